use exitstack::managed;
use std::fs::File;

#[managed]
struct Log {
    #[managed(close = File::sync_all)] // takes `&File`, not `File`
    file: File,
}

fn main() {}
