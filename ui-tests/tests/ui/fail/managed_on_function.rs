use exitstack::managed;

#[managed]
fn open() {}

fn main() {}
