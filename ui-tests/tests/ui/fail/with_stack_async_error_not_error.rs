use exitstack::with_stack;

#[with_stack(stack)]
async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Ok(())
}

fn main() {}
