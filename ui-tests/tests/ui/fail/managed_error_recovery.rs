// One mistake, one error: the struct is still emitted, so the code using it adds none.
use exitstack::managed;

#[managed(order = declaration, labels = true)]
struct Conn {
    #[managed(label = "socket")]
    socket: Vec<u8>,
}

fn main() {
    let conn = Conn { socket: Vec::new().into() };
    assert!(conn.socket.is_empty());
}
