use exitstack::defer;

fn main() {
    defer! { println!("bye"); }
    drop(guard); // the guard is the macro's: user code cannot name it
}
