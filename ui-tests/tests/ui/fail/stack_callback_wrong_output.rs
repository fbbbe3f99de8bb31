use exitstack::{stack_callback, ExitStack};

fn flush() -> bool {
    true
}

fn main() {
    let stack = ExitStack::new();
    stack_callback!(stack, flush);
}
