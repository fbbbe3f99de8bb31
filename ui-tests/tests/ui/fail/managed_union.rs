use exitstack::managed;

#[managed]
union Raw {
    word: u64,
}

fn main() {}
