//! Whether a stack may cross threads: [`Local`] stacks take any entry, [`Sendable`] stacks take
//! only `Send` entries and are `Send` themselves.

use std::marker::PhantomData;

pub(crate) mod sealed {
    use std::sync::atomic::{AtomicBool, Ordering};

    /// What a mode needs to share a stack: how `&self` access to its arena's bookkeeping is
    /// serialized. Chosen at compile time, so a [`Local`](super::Local) stack pays nothing.
    pub trait Sealed {
        /// Stored in the stack: `()` for `Local` (one thread, no flag), a [`SpinFlag`] for
        /// `Sendable` (the stack is `Sync`, so registrations may come from several threads).
        type Flag: Default + Send + Sync;
        /// Held while one `&self` method works on the arena's bookkeeping.
        type Exclusive<'f>;
        /// Waits until no other thread works on the arena, and holds it off until the returned
        /// value is dropped.
        fn exclusive(flag: &Self::Flag) -> Self::Exclusive<'_>;
    }
    impl Sealed for super::Local {
        type Flag = ();
        type Exclusive<'f> = ();
        #[inline(always)]
        fn exclusive(_: &()) {}
    }
    impl Sealed for super::Sendable {
        type Flag = SpinFlag;
        type Exclusive<'f> = SpinGuard<'f>;
        #[inline]
        fn exclusive(flag: &SpinFlag) -> SpinGuard<'_> {
            flag.lock()
        }
    }

    /// The flag of a [`Sendable`](super::Sendable) stack: set while one thread works on the
    /// arena's bookkeeping (reserving words and writing an entry, or reading the fill levels).
    /// The sections it guards are a few dozen instructions, run no code of the user's, and
    /// never wait for anything, so a spin is cheaper than a mutex and cannot deadlock.
    #[derive(Default)]
    pub struct SpinFlag(AtomicBool);

    impl SpinFlag {
        /// Sets the flag, spinning while another thread holds it.
        #[inline]
        fn lock(&self) -> SpinGuard<'_> {
            // `Acquire`: what the previous holder wrote before releasing is visible here.
            while self
                .0
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                while self.0.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            }
            SpinGuard(&self.0)
        }
    }

    /// Holds a [`SpinFlag`]; clears it when dropped (also if the guarded section panics, which
    /// only an allocation failure could make it do).
    pub struct SpinGuard<'f>(&'f AtomicBool);

    impl Drop for SpinGuard<'_> {
        #[inline]
        fn drop(&mut self) {
            // `Release`: publishes this section's writes to the next holder.
            self.0.store(false, Ordering::Release);
        }
    }
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
///
/// When `T` is not `Send`, rustc reports the missing `T: Send` (naming `Admits` in a note);
/// the message below shows where the mode is generic and the bound is missing.
#[diagnostic::on_unimplemented(
    message = "a stack of mode `{Self}` is not known to take this value",
    label = "needs a `{Self}: Admits<..>` bound for this value's type",
    note = "a stack that crosses threads (`SendExitStack::new_send()`, \
            `SendAsyncExitStack::new_send()`) takes only `Send` values: use `Arc`/`Mutex` \
            rather than `Rc`/`RefCell`, or a plain `ExitStack::new()`/`AsyncExitStack::new()` \
            when the stack stays on one thread",
    note = "code generic over `S: Threading` passes the bound on: `where S: Admits<TheType>`"
)]
pub trait Admits<T>: Threading {}

impl<T> Admits<T> for Local {}
impl<T: Send> Admits<T> for Sendable {}
