use exitstack::managed;

struct Conn;
impl Conn {
    fn close(self) {}
    async fn shutdown(self) {}
}

#[managed]
struct Service {
    #[managed(close = Conn::close, aclose = Conn::shutdown)]
    conn: Conn,
}

async fn use_it(service: Service) {
    // The stub `aclose` keeps this from adding an error of its own.
    let _ = service.aclose().await;
}

fn main() {
    let _ = use_it;
}
