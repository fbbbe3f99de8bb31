// A local `AsyncExitStack` held across `.await` in `tokio::spawn`: the one error names the
// stack and points to the `Send` impl of `AsyncExitStack<'_, Sendable>` (what to write:
// `SendAsyncExitStack::new_send()`), not the stack's internals.
use exitstack::AsyncExitStack;

#[tokio::main]
async fn main() {
    let task = tokio::spawn(async {
        let mut stack = AsyncExitStack::new();
        stack.push_async_callback(|| async {});
        tokio::task::yield_now().await;
        stack.aclose().await
    });
    task.await.unwrap().unwrap();
}
