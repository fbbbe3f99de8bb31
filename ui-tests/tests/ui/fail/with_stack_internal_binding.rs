use exitstack::with_stack;

#[with_stack]
fn run() {
    stack.callback(|| ()); // no binding was named: the macro's stack is out of reach
}

fn main() {
    run();
}
