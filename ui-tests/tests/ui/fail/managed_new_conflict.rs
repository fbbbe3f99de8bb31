use exitstack::managed;

#[managed] // generates `new`: rename it with `#[managed(new = from_parts)]`
struct Buffer {
    bytes: Vec<u8>,
}

impl Buffer {
    fn new() -> Self {
        Buffer::new()
    }
}

fn main() {}
