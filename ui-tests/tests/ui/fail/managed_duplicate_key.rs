use exitstack::managed;

#[managed]
struct Conn {
    #[managed(label = "socket", label = "again")]
    socket: std::net::TcpStream,
}

fn main() {}
