use exitstack::with_stack;

#[with_stack(crate = exitstack, crate = exitstack)]
fn run() -> std::io::Result<()> {
    Ok(())
}

fn main() {}
