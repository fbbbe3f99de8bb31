use exitstack::ExitStack;

fn main() {
    let mut stack = ExitStack::new();
    let names = stack.enter(vec!["a"]);
    let moved = stack.pop_all();
    println!("{}", names.len());
    drop(moved);
}
