use exitstack::managed;

#[managed]
struct Session {
    name: String,
    cache: Vec<u8>,
}

fn main() {
    let _ = Session::acquire(|| Ok::<_, std::io::Error>(String::new()), |_| Ok("not bytes"));
}
