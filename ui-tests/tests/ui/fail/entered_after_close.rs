use exitstack::ExitStack;

fn main() {
    let mut stack = ExitStack::new();
    let names = stack.enter(vec!["a"]);
    stack.close().unwrap();
    println!("{}", names.len());
}
