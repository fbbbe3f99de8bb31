// A `SendAsyncExitStack` must stay `Send`, so an async cleanup whose future holds an `Rc`
// (not `Send`) is refused at registration.
use exitstack::SendAsyncExitStack;
use std::rc::Rc;

fn main() {
    let stack = SendAsyncExitStack::new_send();
    let shared = Rc::new(1);
    stack.push_async_callback(move || async move { drop(shared) });
}
