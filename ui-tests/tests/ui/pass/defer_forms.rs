//! Every documented `defer!` and `stack_callback!` form.
use exitstack::{defer, stack_callback, ExitStack};

struct Conn;
impl Conn {
    fn close(self, _code: u8) {}
}

fn release(_: &str) -> Result<(), std::io::Error> {
    Ok(())
}

fn main() {
    defer! { println!("always"); }
    defer!(println!("one expression"));
    defer!(on_panic { println!("on panic"); });
    defer!(on_no_panic { println!("unless panicking"); });
    let owned = String::from("moved");
    defer!(move { drop(owned); });

    let mut stack = ExitStack::new();
    let handle = defer!(stack => { println!("on the stack"); });
    let _ = handle.label("labelled");
    defer!(stack => on_error { println!("on error"); });
    defer!(stack => on_success { println!("on success"); });
    defer!(stack => on_panic { println!("on a panic"); });
    defer!(stack => on_no_panic { println!("unless a panic"); });
    defer!(stack => |err| { println!("saw {err}"); });
    let moved = String::from("moved");
    defer!(stack => move { drop(moved); });
    defer!(stack => on_error move { println!("moved"); });

    stack_callback!(stack, release, "a");
    stack_callback!(stack, |code: u8| println!("{code}"), 1);
    stack_callback!(stack, Conn.close, 2);
    stack_callback!(stack, std::mem::drop, vec![1]);
    stack.close().unwrap();
}
