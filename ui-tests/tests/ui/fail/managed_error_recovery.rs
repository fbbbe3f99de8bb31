// One mistake, one error: the struct and stubs of every generated item are still emitted.
use exitstack::{managed, Close, ExitStack};

#[managed(order = declaration, labels = true)]
struct Conn {
    socket: Vec<u8>,
}

fn main() {
    let conn = Conn::new(Vec::new());
    let _ = Conn::acquire(|| Ok::<_, std::io::Error>(Vec::new())).map(Conn::close);
    let _ = Close::close(conn);
    ExitStack::new().enter_closing(Conn { socket: Vec::new().into() });
}
