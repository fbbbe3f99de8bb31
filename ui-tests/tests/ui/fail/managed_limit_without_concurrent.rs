use exitstack::managed;

struct Conn;
impl Conn {
    async fn shutdown(self) {}
}

#[managed(limit = 2)]
struct Service {
    #[managed(aclose = Conn::shutdown)]
    conn: Conn,
}

fn main() {}
