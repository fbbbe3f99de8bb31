use exitstack::managed;

#[managed]
struct Conn {
    #[cfg_attr(test, managed(skip))]
    socket: std::net::TcpStream,
}

fn main() {}
