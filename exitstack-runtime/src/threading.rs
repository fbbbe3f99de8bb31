//! Whether a stack may cross threads: [`Local`] stacks take any entry, [`Sendable`] stacks take
//! only `Send` entries and are `Send` themselves.

use std::marker::PhantomData;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Local {}
    impl Sealed for super::Sendable {}
}

/// The thread-safety mode of a stack: [`Local`] or [`Sendable`]. Sealed.
pub trait Threading: sealed::Sealed + 'static {}

/// Mode of [`ExitStack`](crate::ExitStack): entries need not be `Send`, and the stack stays on
/// its thread.
#[derive(Debug)]
pub struct Local(PhantomData<*const ()>);

/// Mode of [`SendExitStack`](crate::SendExitStack): every entry is `Send`, so the stack is
/// `Send` and can be held across `.await` in a multi-threaded runtime.
///
/// ```
/// use exitstack::SendExitStack;
///
/// let stack = SendExitStack::new_send();
/// stack.callback(|| println!("released on another thread"));
/// std::thread::spawn(move || drop(stack)).join().unwrap();
/// ```
#[derive(Debug)]
pub enum Sendable {}

impl Threading for Local {}
impl Threading for Sendable {}

/// Whether a stack in mode `Self` accepts an entry of type `T`.
#[diagnostic::on_unimplemented(
    message = "`{T}` cannot be registered on a `SendExitStack` because it is not `Send`",
    label = "this entry is not `Send`",
    note = "use a plain `ExitStack` (which stays on one thread) for entries that are not `Send`"
)]
pub trait Admits<T>: Threading {}

impl<T> Admits<T> for Local {}
impl<T: Send> Admits<T> for Sendable {}
