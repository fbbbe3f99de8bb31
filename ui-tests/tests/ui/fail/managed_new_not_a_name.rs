use exitstack::managed;

#[managed(new = "from_parts")]
struct Buffer {
    bytes: Vec<u8>,
}

fn main() {}
