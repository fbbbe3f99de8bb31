use exitstack::ExitStack;

fn main() {
    let stack = ExitStack::new();
    stack.try_callback(|| Err::<(), _>("use callback"));
}
