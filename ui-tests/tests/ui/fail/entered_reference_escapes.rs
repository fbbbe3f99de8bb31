use exitstack::ExitStack;

fn names() -> &'static mut Vec<&'static str> {
    let stack = ExitStack::new();
    stack.enter(Vec::new()).into_mut()
}

fn main() {
    names();
}
