use exitstack::with_stack;

#[with_stack(stack, send = true)]
async fn run() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
