use exitstack::managed;

#[managed]
struct Conn {
    #[managed(closer = drop)]
    socket: std::net::TcpStream,
}

fn main() {}
