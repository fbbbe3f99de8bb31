// A cleanup cannot capture its own stack and close it.
use exitstack::ExitStack;

fn main() {
    let mut stack = ExitStack::new();
    stack.callback(|| {
        let _ = stack.close();
    });
}
