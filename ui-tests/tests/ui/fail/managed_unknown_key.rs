use exitstack::managed;

#[managed(ordering = declaration)]
struct Conn {
    socket: std::net::TcpStream,
}

fn main() {}
