use exitstack::with_stack;

#[with_stack(stack, contxt = ())]
fn run() {}

fn main() {
    run();
}
