use exitstack::managed;

#[managed]
struct Service {
    #[managed(after = pool)]
    pool: Vec<u8>,
}

fn main() {}
