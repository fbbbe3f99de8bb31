use exitstack::managed;

#[managed(concurrent)]
struct Service {
    buffer: Vec<u8>,
}

fn main() {}
