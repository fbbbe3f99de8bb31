use exitstack::with_stack;

// `String` is neither an error handlers could see nor one that holds cleanup errors: one error.
#[with_stack(stack)]
fn run() -> Result<(), String> {
    Ok(())
}

fn main() {}
