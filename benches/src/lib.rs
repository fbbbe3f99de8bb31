//! The workloads that the criterion benches, the callgrind probe and the peak-memory probe all
//! run, so that every tool measures the very same code.
//!
//! One workload: register `n` cleanups, each a closure capturing one reference (`&Cell<u64>`)
//! that bumps the counter, then unwind them all, newest first. Each peer does this its own way.
//!
//! ```
//! use std::cell::Cell;
//!
//! let counter = Cell::new(0);
//! exitstack_benches::exitstack_callbacks(&counter, 16);
//! exitstack_benches::boxed_callbacks(&counter, 16);
//! assert_eq!(counter.get(), 32);
//! ```

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use exitstack::{AsyncExitStack, ExitStack};

/// A workload: register `n` cleanups bumping the counter, then unwind them.
pub type Workload = fn(&Cell<u64>, usize);

/// The cleanup every peer registers: one load, one add, one store.
#[inline]
pub fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

/// One entry of the floor: the function and its argument.
type FnPointerEntry<'c> = (fn(&Cell<u64>), &'c Cell<u64>);

/// The floor: a `Vec` of (function pointer, its one-word argument), popped and called. No
/// type erasure of closures, no panic safety, no error handling.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::fn_pointer_floor(&counter, 3);
/// assert_eq!(counter.get(), 3);
/// ```
#[inline]
pub fn fn_pointer_floor(counter: &Cell<u64>, n: usize) {
    // Hidden from the optimizer so that the calls stay indirect, as in a real cleanup list.
    let f: fn(&Cell<u64>) = black_box(bump);
    let mut cleanups: Vec<FnPointerEntry<'_>> = Vec::new();
    for _ in 0..n {
        cleanups.push((f, counter));
    }
    while let Some((f, arg)) = cleanups.pop() {
        f(arg);
    }
}

/// The usual hand-rolled stack: `Vec<Box<dyn FnOnce()>>`, popped and called. One allocation per
/// entry, no panic safety (a panicking cleanup skips the rest until the `Vec` drops).
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::boxed_callbacks(&counter, 3);
/// assert_eq!(counter.get(), 3);
/// ```
#[inline]
pub fn boxed_callbacks(counter: &Cell<u64>, n: usize) {
    let mut cleanups: Vec<Box<dyn FnOnce() + '_>> = Vec::new();
    for _ in 0..n {
        cleanups.push(Box::new(move || bump(counter)));
    }
    while let Some(cleanup) = cleanups.pop() {
        cleanup();
    }
}

/// `Vec<Box<dyn FnOnce()>>` made panic-safe the obvious way: each call in `catch_unwind`.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::boxed_catch_unwind(&counter, 3);
/// assert_eq!(counter.get(), 3);
/// ```
#[inline]
pub fn boxed_catch_unwind(counter: &Cell<u64>, n: usize) {
    let mut cleanups: Vec<Box<dyn FnOnce() + '_>> = Vec::new();
    for _ in 0..n {
        cleanups.push(Box::new(move || bump(counter)));
    }
    let mut first_panic = None;
    while let Some(cleanup) = cleanups.pop() {
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(cleanup)) {
            first_panic.get_or_insert(payload);
        }
    }
    if let Some(payload) = first_panic {
        panic::resume_unwind(payload);
    }
}

/// A `Vec` of scopeguard guards (one closure type, so stored unboxed), popped and dropped.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::scopeguard_vec(&counter, 3);
/// assert_eq!(counter.get(), 3);
/// ```
#[inline]
pub fn scopeguard_vec(counter: &Cell<u64>, n: usize) {
    let mut guards = Vec::new();
    for _ in 0..n {
        guards.push(scopeguard::guard(counter, bump));
    }
    while let Some(guard) = guards.pop() {
        drop(guard);
    }
}

/// exitstack: `callback` each closure, then `close` (panic-safe, errors collected).
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::exitstack_callbacks(&counter, 3);
/// assert_eq!(counter.get(), 3);
/// ```
#[inline]
pub fn exitstack_callbacks(counter: &Cell<u64>, n: usize) {
    let mut stack = ExitStack::new();
    for _ in 0..n {
        stack.callback(move || bump(counter));
    }
    if stack.close().is_err() {
        unreachable!("the callbacks cannot fail");
    }
}

/// A value of three machine words whose drop bumps the counter: what `enter` stores.
pub struct ThreeWords<'c> {
    counter: &'c Cell<u64>,
    /// Payload, so the value is three words.
    pub payload: [usize; 2],
}

impl<'c> ThreeWords<'c> {
    /// A value that bumps `counter` when dropped.
    ///
    /// ```
    /// let counter = std::cell::Cell::new(0);
    /// drop(exitstack_benches::ThreeWords::new(&counter));
    /// assert_eq!(counter.get(), 1);
    /// ```
    pub fn new(counter: &'c Cell<u64>) -> Self {
        ThreeWords {
            counter,
            payload: [0; 2],
        }
    }
}

impl Drop for ThreeWords<'_> {
    fn drop(&mut self) {
        bump(self.counter);
    }
}

/// exitstack: `enter` `n` three-word values (touching each through its handle), then `close`.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::exitstack_enter(&counter, 3);
/// assert_eq!(counter.get(), 3);
/// ```
#[inline]
pub fn exitstack_enter(counter: &Cell<u64>, n: usize) {
    let mut stack = ExitStack::new();
    for i in 0..n {
        let mut value = stack.enter(ThreeWords::new(counter));
        value.payload[0] = i;
    }
    if stack.close().is_err() {
        unreachable!("the values cannot fail to drop");
    }
}

/// Fills a stack with `n` callbacks, for `pop_all` benchmarks.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// let mut stack = exitstack_benches::filled_stack(&counter, 5);
/// let mut moved = stack.pop_all();
/// moved.close().unwrap();
/// assert_eq!(counter.get(), 5);
/// ```
pub fn filled_stack(counter: &Cell<u64>, n: usize) -> ExitStack<'_> {
    let stack = ExitStack::new();
    for _ in 0..n {
        stack.callback(move || bump(counter));
    }
    stack
}

/// What the `exit-stack` crate pins: a `'static` value whose drop bumps a `'static` counter.
pub struct StaticBump(pub &'static Cell<u64>);

impl Drop for StaticBump {
    fn drop(&mut self) {
        bump(self.0);
    }
}

/// The `exit-stack` crate's buffer for `N` entries (a `PinSlot` is a two-word link plus the
/// one-word value). Its capacity is fixed by this type, so it serves N up to 1,000 only.
pub type ExitStackCrate<const N: usize> = exit_stack::ExitStack<[[usize; 3]; N]>;

/// The `exit-stack` crate: pin `n` values into its fixed buffer, then `pop_all` drops them
/// (newest first). It only drops (no closures, no errors), takes only `'static` values, and
/// reuses the buffer it was given.
///
/// ```
/// use std::cell::Cell;
///
/// let counter: &'static Cell<u64> = Box::leak(Box::new(Cell::new(0)));
/// let mut stack = Box::pin(exitstack_benches::ExitStackCrate::<16>::new());
/// exitstack_benches::exit_stack_crate(stack.as_mut(), counter, 16);
/// assert_eq!(counter.get(), 16);
/// ```
#[inline]
pub fn exit_stack_crate<const N: usize>(
    mut stack: Pin<&mut ExitStackCrate<N>>,
    counter: &'static Cell<u64>,
    n: usize,
) {
    for _ in 0..n {
        let slot = stack.as_ref().slot::<StaticBump>();
        let Some(slot) = slot else {
            panic!("the exit-stack buffer holds fewer than {n} entries");
        };
        slot.pin(StaticBump(counter));
    }
    stack.as_mut().pop_all();
}

/// scopeguard's `defer!`: one guard on the call stack, run at the end of the scope.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::defer_scopeguard(&counter);
/// assert_eq!(counter.get(), 1);
/// ```
#[inline]
pub fn defer_scopeguard(counter: &Cell<u64>) {
    scopeguard::defer! { bump(counter) }
    black_box(counter);
}

/// exitstack's bare `defer!`: one guard on the call stack, run at the end of the scope.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::defer_exitstack(&counter);
/// assert_eq!(counter.get(), 1);
/// ```
#[inline]
pub fn defer_exitstack(counter: &Cell<u64>) {
    exitstack::defer! { bump(counter) }
    black_box(counter);
}

/// `AsyncExitStack` with sync entries only: `callback` each closure, then `aclose`, polled once
/// with a no-op waker (it never waits: no entry is async).
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::async_sync_entries(&counter, 3);
/// assert_eq!(counter.get(), 3);
/// ```
#[inline]
pub fn async_sync_entries(counter: &Cell<u64>, n: usize) {
    let mut stack = AsyncExitStack::new();
    for _ in 0..n {
        stack.callback(move || bump(counter));
    }
    let mut close = std::pin::pin!(stack.aclose());
    let mut cx = Context::from_waker(Waker::noop());
    match close.as_mut().poll(&mut cx) {
        Poll::Ready(Ok(())) => {}
        _ => unreachable!("sync callbacks finish in one poll and cannot fail"),
    }
}

/// The peer of a function with two cleanups: two scopeguard guards on the call stack. Neither
/// catches a panic of the other nor reports an error.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::two_scopeguards(&counter);
/// assert_eq!(counter.get(), 2);
/// ```
#[inline]
pub fn two_scopeguards(counter: &Cell<u64>) {
    let _first = scopeguard::guard(counter, bump);
    let _second = scopeguard::guard(counter, bump);
    black_box(counter);
}

/// `ExitStack::scope` with two callbacks: a scope per call, unwound with the body's outcome.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::scope_two_callbacks(&counter);
/// assert_eq!(counter.get(), 2);
/// ```
#[inline]
pub fn scope_two_callbacks(counter: &Cell<u64>) {
    let outcome = ExitStack::scope(|stack| {
        stack.callback(move || bump(counter));
        stack.callback(move || bump(counter));
        Ok::<_, std::fmt::Error>(())
    });
    if outcome.is_err() {
        unreachable!("callbacks cannot fail");
    }
}

/// A `#[with_stack]` function registering two callbacks.
///
/// ```
/// let counter = std::cell::Cell::new(0);
/// exitstack_benches::with_stack_two_callbacks(&counter).unwrap();
/// assert_eq!(counter.get(), 2);
/// ```
#[exitstack::with_stack(stack)]
#[inline]
pub fn with_stack_two_callbacks(counter: &Cell<u64>) -> Result<(), exitstack::UnwindError> {
    stack.callback(move || bump(counter));
    stack.callback(move || bump(counter));
    Ok(())
}
