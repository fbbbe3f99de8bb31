use exitstack::with_stack;

#[with_stack(stack)]
async fn run() -> u32 {
    1
}

fn main() {}
