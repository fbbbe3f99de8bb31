// A cleanup cannot close the stack that is running it: it only ever sees `&ExitStack`.
use exitstack::ExitStack;

fn main() {
    let mut stack = ExitStack::new();
    stack.callback_with_stack(|running| {
        let _ = running.close();
    });
    stack.close().unwrap();
}
