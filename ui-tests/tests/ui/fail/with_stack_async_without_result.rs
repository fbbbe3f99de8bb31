use exitstack::with_stack;

#[with_stack(stack)]
async fn run() -> u32 {
    1
}

#[with_stack(stack, send)]
async fn spawnable() -> Option<u32> {
    Some(1)
}

fn main() {}
