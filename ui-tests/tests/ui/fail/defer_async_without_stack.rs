// An async deferred block needs a stack whose `aclose` awaits it.
use exitstack::defer;

fn main() {
    defer!(async { println!("who would await this?") });
}
