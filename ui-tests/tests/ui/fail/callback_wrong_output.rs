use exitstack::ExitStack;

fn main() {
    let stack = ExitStack::new();
    stack.callback(|| 42);
}
