// A bad field option: one error, and the generated items still exist.
use exitstack::managed;

#[managed]
struct Conn {
    #[managed(close = Vec::clear, colse = Vec::clear)]
    socket: Vec<u8>,
}

fn main() {
    let conn = Conn::new(Vec::new());
    let _ = conn.close();
}
