use exitstack::managed;

#[managed]
struct Service {
    #[managed(after = connection)]
    pool: Vec<u8>,
    #[managed(after = pool)]
    connection: Vec<u8>,
}

fn main() {}
