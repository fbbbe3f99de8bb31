//! A struct whose fields are all skipped still gets `close`, `acquire` and `Drop`.
#![deny(warnings)]
use exitstack::managed;

#[managed]
struct Labels {
    #[managed(skip)]
    name: String,
}

fn main() {
    let labels = Labels::acquire(|| Ok::<_, std::fmt::Error>(String::from("x"))).unwrap();
    assert_eq!(labels.name, "x");
    labels.close().unwrap();
}
