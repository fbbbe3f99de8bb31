use exitstack::managed;

#[managed(order = backwards)]
struct Conn {
    socket: std::net::TcpStream,
}

fn main() {}
