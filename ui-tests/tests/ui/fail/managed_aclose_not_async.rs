use exitstack::managed;

struct Conn;
impl Conn {
    // Not async: `close = Conn::shutdown` is what this wants.
    fn shutdown(self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

#[managed]
struct Service {
    #[managed(aclose = Conn::shutdown)]
    conn: Conn,
}

fn main() {}
