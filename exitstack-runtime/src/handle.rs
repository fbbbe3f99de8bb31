//! Handles to single entries: [`Handle`] (cancel it, release it now, label it) and [`Entered`]
//! (the same, for an entry that owns a value, which it also lends out).
//!
//! Every handle ([`Handle`], [`Entered`], `AsyncHandle`, `AsyncEntered`) lets go of its entry in
//! one of two ways, with the same two words: `release` runs the entry now (as the stack would)
//! and removes it; `cancel` removes it without running it. One verb for "run this entry now":
//! `release` reads right for an entry that owns a value (a lock, a file) and for a callback
//! alike, and `close` would shadow the value's own `close` through `Entered`'s `Deref`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::ptr::NonNull;

use crate::arena::{Arena, Slot, StackRef, Word};
use crate::caught::Payload;
use crate::ending::Ending;
use crate::error::UnwindError;
use crate::pending::Pending;
use crate::threading::{Local, Sendable, Threading};
use crate::unwind::{discard_popped, run_all, run_popped, value_or_panic};

/// A registered entry, borrowed from its stack: cancel it, release it now, or label it.
///
/// The handle borrows the stack, so it cannot outlive it, and `close`/`pop_all` (which need
/// `&mut`) cannot run while it exists. Dropping the handle leaves the entry registered.
///
/// `S` is the stack's mode: a handle of a [`SendExitStack`](crate::SendExitStack) is `Send`
/// and `Sync` (its entry is `Send`), one of a local stack stays on its thread.
///
/// # Examples
///
/// ```
/// use exitstack::ExitStack;
/// use std::cell::Cell;
///
/// let removed = Cell::new(false);
/// let mut stack = ExitStack::new();
/// let cleanup = stack.callback(|| removed.set(true)).label("remove partial output");
/// // ... the operation succeeded: keep the output.
/// cleanup.cancel();
/// stack.close().unwrap();
/// assert!(!removed.get());
/// ```
pub struct Handle<'s, S: Threading = Local> {
    /// The stack's arena, borrowed: only its lifetime is needed (see `release`).
    arena: PhantomData<&'s Arena>,
    stack: StackRef,
    slot: Slot,
    /// Neither `Send` nor `Sync` but for `Sendable` (see the impls below).
    _not_send: PhantomData<*const ()>,
    _mode: PhantomData<fn() -> S>,
}

// SAFETY: what a handle of a `Sendable` stack does on the thread it is sent to: `label` writes
// its entry's site, `cancel` drops the entry's body, `release` runs it (with the stack, which
// is `Sync`, for entries that register more), `location` reads the site. The entry's words are
// reached by this handle alone (no other handle has its slot, and the stack touches them only
// through `&mut`, impossible while the handle borrows it), and the move to the other thread
// orders the push's writes before these accesses. The body is `Send`: a `Sendable` stack
// admits only `Send` entries.
unsafe impl Send for Handle<'_, Sendable> {}

// SAFETY: through `&Handle`, several threads can only read the entry's site (`location`, and
// `Debug`): shared reads (`Slot::site`). Every write (`label`, `cancel`, `release`) takes the
// handle by value, so no `&Handle` is alive then.
unsafe impl Sync for Handle<'_, Sendable> {}

impl<'s, S: Threading> Handle<'s, S> {
    pub(crate) fn new(_arena: &'s Arena, stack: StackRef, slot: Slot) -> Self {
        Handle {
            arena: PhantomData,
            stack,
            slot,
            _not_send: PhantomData,
            _mode: PhantomData,
        }
    }

    pub(crate) fn slot(&self) -> Slot {
        self.slot
    }

    /// Names the entry in error reports.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("refused")).label("unmount /mnt");
    /// let errors = stack.close().unwrap_err();
    /// assert_eq!(errors.to_string(), "cleanup `unmount /mnt` failed: refused");
    /// ```
    // Not `#[must_use]`: labelling at registration (`stack.callback(f).label("x");`) is the
    // common case, and dropping the handle leaves the entry registered, which is fine.
    pub fn label(self, label: impl Into<Cow<'static, str>>) -> Self {
        // SAFETY: the handle borrows the stack, so the entry has not been popped (that needs
        // `&mut` or an unwind of a stack nobody borrows), and nothing else reads its site now.
        unsafe { self.slot.site_mut().set_label(label.into()) };
        self
    }

    /// Where the entry was registered.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let stack = ExitStack::new();
    /// let line = line!() + 1;
    /// let handle = stack.callback(|| {});
    /// assert_eq!(handle.location().line(), line);
    /// assert_eq!(handle.location().file(), file!());
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        // SAFETY: as in `label`; only written through a handle taken by value (`Sync` above).
        unsafe { self.slot.site().location() }
    }

    /// Removes the entry without running it. Its closure (and any value it owns, and the
    /// entries of a stack pushed with [`push_stack`](crate::ExitStack::push_stack)) is dropped
    /// before `cancel` returns. A panicking `Drop` does not stop the others; the first panic
    /// goes on, or, if the thread is already panicking, is reported.
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::RefCell;
    ///
    /// let log = RefCell::new(Vec::new());
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| log.borrow_mut().push("kept"));
    /// stack.callback(|| log.borrow_mut().push("cancelled")).cancel();
    /// stack.close().unwrap();
    /// assert_eq!(*log.borrow(), ["kept"]);
    /// ```
    pub fn cancel(self) {
        // SAFETY: as in `label`; the body is taken out of the slot once and dropped, here.
        unsafe { discard_popped(self.slot.take()) }
    }

    /// Releases the entry now: runs it (as if the stack were being closed) and removes it.
    /// Returns its error, if it failed; a panic propagates to the caller, unless the thread is already panicking
    /// (a handle run from a `Drop` during a panic): then it is caught and reported.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// let flush = stack.callback(|| Err("flush failed"));
    /// assert_eq!(flush.release().unwrap_err().first().error().to_string(), "flush failed");
    /// assert!(stack.close().is_ok()); // it does not run again
    /// ```
    pub fn release(self) -> Result<(), UnwindError> {
        let mut pending = Pending::new(Ending::Succeeded);
        // A pushed stack splices its entries into the arena being unwound. Give it a fresh
        // one, so they run now, here, rather than later on top of this stack and out of order
        // (`tests/tests/semantics/misuse_handles.rs`). Entries that
        // register more through `callback_with_stack` still register on the stack itself.
        let spliced = Arena::default();
        // SAFETY: as in `label`; the body is taken out of the slot once and run, here, with
        // the stack it was pushed on.
        unsafe { run_popped(&spliced, self.stack, &mut pending, None, self.slot.take()) };
        run_all(&spliced, self.stack, &mut pending, None);
        pending.finish(None)
    }
}

impl<S: Threading> fmt::Debug for Handle<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("location", &self.location().to_string())
            .finish_non_exhaustive()
    }
}

/// A value owned by its stack, with a handle to its entry: use it through `Deref`/`DerefMut`,
/// take it back with [`cancel`](Entered::cancel), release it now with
/// [`release`](Entered::release), or turn it into a plain `&mut T` with
/// [`into_mut`](Entered::into_mut).
///
/// # Examples
///
/// ```
/// use exitstack::ExitStack;
///
/// let mut stack = ExitStack::new();
/// let mut names = stack.enter(Vec::new());
/// names.push("kept by the stack");
/// let names: &mut Vec<&str> = names.into_mut(); // a plain reference from here on
/// names.push("still usable while more is registered");
/// stack.close().unwrap();
/// ```
pub struct Entered<'s, T, S: Threading = Local> {
    handle: Handle<'s, S>,
    value: NonNull<T>,
    take: unsafe fn(*mut Word) -> (T, Option<Payload>),
    _owns: PhantomData<&'s mut T>,
}

// SAFETY: as for `Handle<'_, Sendable>` (the entry's body is `Send`); besides, the value is
// lent out (`&mut T`) or moved out (`cancel`) on the thread the handle is sent to, which needs
// `T: Send`, exactly as for the `&'s mut T` the handle stands for.
unsafe impl<T: Send> Send for Entered<'_, T, Sendable> {}

// SAFETY: through `&Entered`, several threads can read the site (as for `Handle`) and get a
// `&T` (`Deref`), which needs `T: Sync`; everything else takes `&mut self` or `self`.
unsafe impl<T: Sync> Sync for Entered<'_, T, Sendable> {}

impl<'s, T, S: Threading> Entered<'s, T, S> {
    /// Safety: `value` points to the value inside the body of the entry at `handle`'s slot,
    /// and `take` moves the value out of that body's slot.
    pub(crate) unsafe fn new(
        handle: Handle<'s, S>,
        value: NonNull<T>,
        take: unsafe fn(*mut Word) -> (T, Option<Payload>),
    ) -> Self {
        Entered {
            handle,
            value,
            take,
            _owns: PhantomData,
        }
    }

    /// The slot of the entry (for the async stack's `release`).
    pub(crate) fn slot(&self) -> Slot {
        self.handle.slot
    }

    /// Names the entry in error reports.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// let conn = stack.guard(42, |_| Err("peer gone")).label("connection 42");
    /// assert_eq!(*conn, 42);
    /// let errors = stack.close().unwrap_err();
    /// assert_eq!(errors.first().label(), Some("connection 42"));
    /// ```
    // Not `#[must_use]`, as for `Handle::label`.
    pub fn label(mut self, label: impl Into<Cow<'static, str>>) -> Self {
        self.handle = self.handle.label(label);
        self
    }

    /// Where the entry was registered.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let stack = ExitStack::new();
    /// let line = line!() + 1;
    /// let buffer = stack.enter(vec![0u8; 16]);
    /// assert_eq!(buffer.location().line(), line);
    /// ```
    pub fn location(&self) -> &'static Location<'static> {
        self.handle.location()
    }

    /// Gives up the handle and keeps a plain reference, valid for as long as the stack is
    /// borrowed; the entry stays registered.
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::Cell;
    ///
    /// let released = Cell::new(0);
    /// let mut stack = ExitStack::new();
    /// let count: &mut u32 = stack.guard(0, |n| released.set(n)).into_mut();
    /// *count += 5;
    /// stack.close().unwrap();
    /// assert_eq!(released.get(), 5); // the teardown saw the value changed through the reference
    /// ```
    pub fn into_mut(self) -> &'s mut T {
        // SAFETY: the value stays in place until the entry is popped, which needs the stack's
        // `&mut` and so cannot happen during `'s`; the handle is consumed, so this is the only
        // way left to reach it.
        unsafe { &mut *self.value.as_ptr() }
    }

    /// Takes the value back out of the stack: it will not be released.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let stack = ExitStack::new();
    /// let file_name = stack.guard(String::from("out.tmp"), |name| println!("removing {name}"));
    /// let kept: String = file_name.cancel(); // validation passed: keep it, remove nothing
    /// assert_eq!(kept, "out.tmp");
    /// ```
    pub fn cancel(self) -> T {
        // SAFETY: as in `Handle::cancel`; `take` moves the value out of the body exactly once.
        let popped = unsafe { self.handle.slot.take() };
        // SAFETY: `take` matches the body's type (the contract of `new`).
        let (value, panic) = unsafe { (self.take)(popped.body) };
        value_or_panic(value, panic, &popped)
    }

    /// Releases the value now (as the stack would), returning the release's error.
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::Cell;
    ///
    /// let closed = Cell::new(0);
    /// let mut stack = ExitStack::new();
    /// let lock = stack.guard("lock", |_| closed.set(closed.get() + 1));
    /// lock.release().unwrap(); // released now, not at close
    /// assert_eq!(closed.get(), 1);
    /// stack.close().unwrap();
    /// assert_eq!(closed.get(), 1); // and not again
    /// let failing = stack.guard((), |()| Err("cannot release"));
    /// assert_eq!(failing.release().unwrap_err().len(), 1);
    /// ```
    pub fn release(self) -> Result<(), UnwindError> {
        self.handle.release()
    }
}

impl<T, S: Threading> Deref for Entered<'_, T, S> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the value is alive and in place while the handle exists (see `into_mut`).
        unsafe { self.value.as_ref() }
    }
}

impl<T, S: Threading> DerefMut for Entered<'_, T, S> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { self.value.as_mut() }
    }
}

impl<T: fmt::Debug, S: Threading> fmt::Debug for Entered<'_, T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Entered").field(&**self).finish()
    }
}
