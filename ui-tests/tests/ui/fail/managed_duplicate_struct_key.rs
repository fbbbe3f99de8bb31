use exitstack::managed;

#[managed(order = reverse, order = declaration)]
struct Conn {
    socket: std::net::TcpStream,
}

fn main() {}
