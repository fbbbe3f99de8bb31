use exitstack::managed;

#[managed]
struct Session {
    #[managed(rank = high)]
    cache: Vec<u8>,
}

fn main() {}
