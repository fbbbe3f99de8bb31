use exitstack::managed;

#[managed]
enum Resources {
    File(std::fs::File),
}

fn main() {}
