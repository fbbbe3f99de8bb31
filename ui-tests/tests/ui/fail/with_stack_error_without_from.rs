use exitstack::with_stack;

#[with_stack(stack)]
fn run() -> Result<(), std::fmt::Error> {
    stack.callback(|| ());
    Ok(())
}

fn main() {
    let _ = run();
}
