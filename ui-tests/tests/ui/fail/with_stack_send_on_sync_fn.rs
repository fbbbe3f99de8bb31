use exitstack::with_stack;

#[with_stack(stack, send)]
fn run() -> u32 {
    stack.callback(|| ());
    1
}

fn main() {
    run();
}
