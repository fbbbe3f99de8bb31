//! `on_error` / `on_success` are the stack's words (a `?` is an error); a bare guard only sees
//! panics, so the bare forms are errors that say what to write instead.
use exitstack::defer;

fn main() {
    defer!(on_error { println!("rolled back"); });
    defer!(on_success { println!("committed"); });
}
