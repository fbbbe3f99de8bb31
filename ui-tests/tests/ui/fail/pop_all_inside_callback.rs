// A cleanup cannot move the entries out of the stack that is running it.
use exitstack::ExitStack;

fn main() {
    let mut stack = ExitStack::new();
    stack.callback_with_stack(|running| {
        let _moved = running.pop_all();
    });
    stack.close().unwrap();
}
