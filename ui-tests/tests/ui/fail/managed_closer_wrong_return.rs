use exitstack::managed;

fn release(_: u32) -> bool {
    true
}

#[managed]
struct Counter {
    #[managed(close = release)]
    count: u32,
}

fn main() {}
