use exitstack::managed;

#[managed]
struct Session {
    #[managed(skip)]
    name: String,
    #[managed(after = name)]
    cache: Vec<u8>,
}

fn main() {}
