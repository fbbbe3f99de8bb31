//! Whether a stack may cross threads: [`Local`] stacks take any entry, [`Sendable`] stacks take
//! only `Send` entries and are `Send` themselves.

use std::marker::PhantomData;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Local {}
    impl Sealed for super::Sendable {}
}

/// The thread-safety mode of a stack: [`Local`] or [`Sendable`]. Sealed.
///
/// Code generic over the mode works with either kind of stack:
///
/// ```
/// use exitstack::{ExitStack, SendExitStack, Threading, UnwindError};
///
/// fn close_and_count<S: Threading>(stack: &mut ExitStack<'_, S>) -> usize {
///     stack.close().err().map_or(0, |errors: UnwindError| errors.len())
/// }
/// let mut local = ExitStack::new();
/// local.callback(|| Err("one"));
/// let mut sendable = SendExitStack::new_send();
/// sendable.callback(|| {});
/// assert_eq!(close_and_count(&mut local), 1);
/// assert_eq!(close_and_count(&mut sendable), 0);
/// ```
pub trait Threading: sealed::Sealed + 'static {}

/// Mode of [`ExitStack`](crate::ExitStack): entries need not be `Send`, and the stack stays on
/// its thread.
///
/// ```
/// use exitstack::{ExitStack, Local};
/// use std::rc::Rc;
///
/// let shared = Rc::new(());
/// let mut stack: ExitStack<'_, Local> = ExitStack::new();
/// stack.enter(Rc::clone(&shared)); // not `Send`: fine on a local stack
/// assert_eq!(Rc::strong_count(&shared), 2);
/// stack.close().unwrap();
/// assert_eq!(Rc::strong_count(&shared), 1);
/// ```
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

/// Whether a stack in mode `Self` accepts an entry of type `T`: [`Local`] admits everything,
/// [`Sendable`] only `Send` types.
///
/// ```
/// use exitstack::{Admits, ExitStack, Threading};
///
/// // Generic code passes the bound on to the registration it makes.
/// fn keep<'a, S: Admits<String>>(stack: &ExitStack<'a, S>, name: &str) {
///     stack.enter(name.to_owned());
/// }
/// let mut stack = exitstack::SendExitStack::new_send();
/// keep(&stack, "a String is Send");
/// assert!(stack.close().is_ok());
/// ```
///
/// ```compile_fail
/// let stack = exitstack::SendExitStack::new_send();
/// stack.enter(std::rc::Rc::new(())); // `Rc` is not `Send`
/// ```
#[diagnostic::on_unimplemented(
    message = "`{T}` cannot be registered on a `SendExitStack` because it is not `Send`",
    label = "this entry is not `Send`",
    note = "use a plain `ExitStack` (which stays on one thread) for entries that are not `Send`"
)]
pub trait Admits<T>: Threading {}

impl<T> Admits<T> for Local {}
impl<T: Send> Admits<T> for Sendable {}
