use exitstack::managed;

#[managed]
struct Nothing;

fn main() {}
