use exitstack::managed;

#[managed]
struct Service {
    #[managed(skip, close = drop)]
    name: String,
}

fn main() {}
