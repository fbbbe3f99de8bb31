// A bare `defer!` in the outermost block joins the stack, so it cannot borrow a body local.
use exitstack::{defer, with_stack};

#[with_stack(stack)]
fn run() -> std::io::Result<()> {
    let name = String::from("local");
    defer! { println!("{name}"); }
    stack.callback(|| ());
    Ok(())
}

fn main() {}
