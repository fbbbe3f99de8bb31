use exitstack::with_stack;

#[with_stack(stack)]
fn run() -> Result<(), String> {
    stack.callback(|| ());
    Ok(())
}

fn main() {
    let _ = run();
}
