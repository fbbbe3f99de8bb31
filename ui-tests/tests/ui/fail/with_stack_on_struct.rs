use exitstack::with_stack;

#[with_stack(stack)]
struct NotAFunction;

fn main() {}
