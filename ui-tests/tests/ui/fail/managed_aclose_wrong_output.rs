use exitstack::managed;

struct Conn;
impl Conn {
    async fn shutdown(self) -> bool {
        true
    }
}

#[managed]
struct Service {
    #[managed(aclose = Conn::shutdown)]
    conn: Conn,
}

fn main() {}
