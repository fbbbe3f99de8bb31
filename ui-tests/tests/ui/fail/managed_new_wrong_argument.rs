use exitstack::managed;

#[managed]
struct Session {
    conn: std::fs::File,
    cache: Vec<u8>,
}

fn main() {
    let _ = Session::new(std::fs::File::open("db").unwrap(), "not bytes");
}
