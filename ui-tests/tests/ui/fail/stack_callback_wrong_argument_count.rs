use exitstack::{stack_callback, ExitStack};

fn remove(_path: &str, _retries: u32) {}

fn main() {
    let stack = ExitStack::new();
    stack_callback!(stack, remove, "/tmp/x");
}
