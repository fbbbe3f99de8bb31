use exitstack::{stack_callback, ExitStack};

fn main() {
    let stack = ExitStack::new();
    stack_callback!(stack);
}
