// Code generic over the stack's mode must pass the `Admits` bound on: the error says so, and
// says which stacks take only `Send` values.
use exitstack::{ExitStack, Threading};

fn keep<S: Threading>(stack: &ExitStack<'_, S>, name: &str) {
    let name: String = name.to_owned();
    stack.enter(name);
}

fn main() {
    let stack = ExitStack::new();
    keep(&stack, "name");
}
