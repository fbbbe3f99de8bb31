use exitstack::managed;

#[managed]
struct Conn {
    socket: std::net::TcpStream,
}

impl Drop for Conn {
    fn drop(&mut self) {}
}

fn main() {}
