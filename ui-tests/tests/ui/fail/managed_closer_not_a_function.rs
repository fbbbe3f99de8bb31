use exitstack::managed;

#[managed]
struct Buffer {
    #[managed(close = 42)]
    bytes: Vec<u8>,
}

fn main() {}
