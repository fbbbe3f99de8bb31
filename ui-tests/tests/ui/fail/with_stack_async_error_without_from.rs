use exitstack::with_stack;

#[with_stack(stack)]
async fn run() -> Result<(), std::fmt::Error> {
    stack.push_async_callback(|| async {});
    Ok(())
}

fn main() {
    drop(run());
}
