use exitstack::managed;

#[managed]
struct Buffer {
    bytes: Vec<u8>,
}

fn main() {
    let buffer = Buffer { bytes: Vec::new().into() };
    buffer.close().unwrap();
    let _ = buffer.bytes.len();
}
