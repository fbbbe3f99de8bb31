use exitstack::{defer, ExitStack};

fn main() {
    let stack = ExitStack::new();
    defer!(stack => on_failure { println!("rolled back"); });
}
