use exitstack::with_stack;

// `String` is neither an error handlers could see nor one that holds cleanup errors: one error.
#[with_stack(stack)]
async fn run() -> Result<(), String> {
    Ok(())
}

#[with_stack(stack, send)]
async fn spawnable() -> Result<(), String> {
    Ok(())
}

fn main() {}
