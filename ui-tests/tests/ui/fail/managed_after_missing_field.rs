use exitstack::managed;

#[managed]
struct Service {
    #[managed(after = conection)]
    pool: Vec<u8>,
    connection: Vec<u8>,
}

fn main() {}
