//! Handles to single async entries: [`AsyncHandle`] and [`AsyncEntered`]. They cancel, label
//! and lend out like [`Handle`] and [`Entered`](crate::Entered), and release the entry now
//! (run it, awaited) with `release`, the one verb every handle uses.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;

use super::stack::AsyncExitStack;
use crate::arena::{Arena, Slot};
use crate::error::UnwindError;
use crate::handle::{Entered, Handle};
use crate::stack::ExitStack;
use crate::threading::Threading;

/// A registered async entry, borrowed from its stack: cancel it, label it, or release it now
/// (run it, awaited) with [`release`](AsyncHandle::release). Dropping the handle leaves the entry registered.
///
/// # Examples
///
/// ```
/// use exitstack::AsyncExitStack;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut stack = AsyncExitStack::new();
/// let cleanup = stack.push_async_callback(|| async { unreachable!("cancelled") });
/// cleanup.label("remove partial output").cancel();
/// stack.aclose().await.unwrap();
/// # });
/// ```
pub struct AsyncHandle<'s, S: Threading> {
    /// `Send` and `Sync` exactly when this is (for `Sendable`: see `Handle`).
    handle: Handle<'s, S>,
    _mode: PhantomData<fn() -> S>,
}

impl<'s, S: Threading> AsyncHandle<'s, S> {
    pub(super) fn new(handle: Handle<'s, S>) -> Self {
        AsyncHandle {
            handle,
            _mode: PhantomData,
        }
    }

    /// Names the entry in error reports.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_async_callback(|| async { Err("refused") }).label("disconnect");
    /// let errors = stack.aclose().await.unwrap_err();
    /// assert_eq!(errors.first().label(), Some("disconnect"));
    /// # });
    /// ```
    pub fn label(self, label: impl Into<Cow<'static, str>>) -> Self {
        AsyncHandle::new(self.handle.label(label))
    }

    /// Where the entry was registered.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// let stack = AsyncExitStack::new();
    /// let line = line!() + 1;
    /// let handle = stack.push_async_callback(|| async {});
    /// assert_eq!((handle.location().file(), handle.location().line()), (file!(), line));
    /// # handle.cancel();
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.handle.location()
    }

    /// Removes the entry without running it.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::cell::RefCell;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let log = RefCell::new(Vec::new());
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_async_callback(|| async { log.borrow_mut().push("kept") });
    /// stack.push_async_callback(|| async { log.borrow_mut().push("cancelled") }).cancel();
    /// stack.aclose().await.unwrap();
    /// assert_eq!(*log.borrow(), ["kept"]);
    /// # });
    /// ```
    pub fn cancel(self) {
        self.handle.cancel()
    }

    /// Releases the entry now: runs it (as if the stack were being closed), removes it, and
    /// returns its error. The entry is taken out at once; the returned future runs it. A panic propagates
    /// (unless the thread is already panicking: then it is reported). For a stack pushed with
    /// [`push_async_stack`](AsyncExitStack::push_async_stack), its entries run now, async ones
    /// awaited.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// let flush = stack.push_async_callback(|| async { Err("flush failed") });
    /// assert!(flush.release().await.is_err());
    /// assert!(stack.aclose().await.is_ok()); // it does not run again
    /// # });
    /// ```
    pub fn release(self) -> impl Future<Output = Result<(), UnwindError>> + 's {
        // SAFETY: the handle borrows the stack, so the entry has not been popped.
        unsafe { run_slot::<S>(self.handle.slot()) }
    }
}

impl<S: Threading> fmt::Debug for AsyncHandle<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncHandle")
            .field("location", &self.location().to_string())
            .finish_non_exhaustive()
    }
}

/// Takes the entry at `slot` out (tombstoning the slot) and returns a future that runs it: the
/// entry moves into a stack of its own, which is closed. So an entry runs now exactly as it
/// would in its stack's `aclose` (a pushed stack's async entries are awaited, in their order),
/// and a run future dropped part-way is finished like a dropped stack.
///
/// Safety: the slot's entry has not been popped and was pushed on a stack of mode `S` whose
/// lifetime outlives `'s`.
unsafe fn run_slot<'s, S: Threading>(
    slot: Slot,
) -> impl Future<Output = Result<(), UnwindError>> + 's {
    let arena = Arena::default();
    // SAFETY: forwarded from the caller; the body moves out of the tombstoned slot once, into
    // the new arena. Its bodies may borrow for `'a: 's`; the new stack lives within `'s`, and
    // an `'a` stack and an `'s` stack have one layout (see `WithStack` in `stack.rs`).
    unsafe {
        let popped = slot.take();
        arena.push_moved(popped.body, popped.vtable, popped.site);
    }
    let mut alone = AsyncExitStack::<'s, S>::from_sync(ExitStack::from_arena(arena));
    async move { alone.aclose().await }
}

/// A value owned by an async stack, released asynchronously when the stack closes: use it
/// through `Deref`/`DerefMut`, take it back with [`cancel`](AsyncEntered::cancel), release it
/// now with [`release`](AsyncEntered::release), or keep a plain `&mut T` with
/// [`into_mut`](AsyncEntered::into_mut).
///
/// # Examples
///
/// ```
/// use exitstack::AsyncExitStack;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut stack = AsyncExitStack::new();
/// let mut lines = stack.async_guard(Vec::new(), |lines: Vec<&str>| async move {
///     assert_eq!(lines, ["kept by the stack"]);
/// });
/// lines.push("kept by the stack");
/// stack.aclose().await.unwrap();
/// # });
/// ```
pub struct AsyncEntered<'s, T, S: Threading> {
    /// The value and its entry; only releasing differs (it awaits), so the rest is shared.
    /// `Send`/`Sync` exactly when this is (for `Sendable`, when `T` is: see `Entered`).
    entered: Entered<'s, T, S>,
    _mode: PhantomData<fn() -> S>,
}

impl<'s, T, S: Threading> AsyncEntered<'s, T, S> {
    /// The async face of a value entry pushed with an async body.
    pub(super) fn new(entered: Entered<'s, T, S>) -> Self {
        AsyncEntered {
            entered,
            _mode: PhantomData,
        }
    }

    /// Names the entry in error reports.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// let conn = stack.async_guard(7, |_| async { Err("peer gone") }).label("connection 7");
    /// assert_eq!(*conn, 7);
    /// let errors = stack.aclose().await.unwrap_err();
    /// assert_eq!(errors.to_string(), "cleanup `connection 7` failed: peer gone");
    /// # });
    /// ```
    pub fn label(self, label: impl Into<Cow<'static, str>>) -> Self {
        AsyncEntered {
            entered: self.entered.label(label),
            _mode: PhantomData,
        }
    }

    /// Where the entry was registered.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// let stack = AsyncExitStack::new();
    /// let line = line!() + 1;
    /// let buffer = stack.async_guard(vec![0u8; 4], |_| async {});
    /// assert_eq!(buffer.location().line(), line);
    /// # buffer.cancel();
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.entered.location()
    }

    /// Gives up the handle and keeps a plain reference, valid while the stack is borrowed.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// let count: &mut u32 = stack.async_guard(0, |n| async move { assert_eq!(n, 3) }).into_mut();
    /// *count += 3; // the teardown sees the change
    /// stack.aclose().await.unwrap();
    /// # });
    /// ```
    pub fn into_mut(self) -> &'s mut T {
        self.entered.into_mut()
    }

    /// Takes the value back out of the stack: it will not be released.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// let stack = AsyncExitStack::new();
    /// let id = stack.async_guard(42, |_| async { unreachable!("taken back") });
    /// assert_eq!(id.cancel(), 42);
    /// ```
    pub fn cancel(self) -> T {
        self.entered.cancel()
    }

    /// Releases the value now (as the stack would), returning the release's error.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::cell::Cell;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let released = Cell::new(0);
    /// let mut stack = AsyncExitStack::new();
    /// let lock = stack.async_guard("lock", |_| async { released.set(released.get() + 1) });
    /// lock.release().await.unwrap(); // released now, not at aclose
    /// stack.aclose().await.unwrap();
    /// assert_eq!(released.get(), 1); // and not again
    /// # });
    /// ```
    pub fn release(self) -> impl Future<Output = Result<(), UnwindError>> + 's {
        // SAFETY: the handle borrows the stack, so the entry has not been popped; it is an
        // async entry of a stack in mode `S`.
        unsafe { run_slot::<S>(self.entered.slot()) }
    }
}

impl<T, S: Threading> Deref for AsyncEntered<'_, T, S> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.entered
    }
}

impl<T, S: Threading> DerefMut for AsyncEntered<'_, T, S> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.entered
    }
}

impl<T: fmt::Debug, S: Threading> fmt::Debug for AsyncEntered<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AsyncEntered").field(&**self).finish()
    }
}
