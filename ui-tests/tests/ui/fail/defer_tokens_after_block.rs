use exitstack::{defer, ExitStack};

fn main() {
    let stack = ExitStack::new();
    defer!(stack => { println!("closing"); } extra);
}
