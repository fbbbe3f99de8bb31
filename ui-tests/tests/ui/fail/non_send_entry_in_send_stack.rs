use exitstack::SendExitStack;
use std::rc::Rc;

fn main() {
    let stack = SendExitStack::new_send();
    stack.enter(Rc::new(1));
}
