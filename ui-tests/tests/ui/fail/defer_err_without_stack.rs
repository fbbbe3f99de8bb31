use exitstack::defer;

fn main() {
    defer!(|err| { println!("{err}"); });
}
