use exitstack::ExitStack;

fn main() {
    let stack = ExitStack::new();
    stack.push_exit(|exit| exit.error().is_some());
}
