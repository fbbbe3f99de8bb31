use exitstack::with_stack;

#[with_stack(stack, other)]
fn run() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
