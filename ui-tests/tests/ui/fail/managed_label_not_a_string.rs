use exitstack::managed;

#[managed]
struct Session {
    #[managed(label = database)]
    cache: Vec<u8>,
}

fn main() {}
