//! The kinds of entry, each a small struct that knows how to run itself, and the vtables that
//! let the arena store them type-erased.

use std::marker::PhantomData;
use std::ptr::{addr_of_mut, NonNull};

use crate::arena::{span_of, tombstone_of, words_of, Arena, Passed, StackRef, Step, VTable, Word};
use crate::context::{Close, Context};
use crate::ending::Flow;
use crate::error::BoxError;
use crate::exit::Exit;
use crate::output::{CleanupOutput, ExitOutput};
use crate::pending::Pending;
use crate::report;

/// An entry body: consumed when it runs.
pub(crate) trait Body: Sized {
    /// Runs the entry. `exit` is what is pending; `stack` is the stack being unwound, of the
    /// type the body was pushed on (only `callback_with_stack` reads it).
    fn run(self, exit: &Exit<'_>, stack: StackRef) -> Step;

    /// Drops the body without running it; a nested stack hands its arena back instead.
    fn discard(self) -> Option<Box<Arena>> {
        drop(self);
        None
    }
}

/// A body that owns a value the user can reach through an [`Entered`](crate::Entered) handle
/// (sync or async: holding a value is independent of how the body runs).
pub(crate) trait Holds {
    type Value;
    /// What the body holds besides the value (a teardown closure), dropped apart from it.
    type Rest;
    /// Where the value lives inside the body.
    ///
    /// Safety: `this` points to a live body.
    unsafe fn value(this: *mut Self) -> *mut Self::Value;
    /// Splits the body into the value and the rest, running neither.
    fn into_parts(self) -> (Self::Value, Self::Rest);
}

/// How one family of bodies (sync, or async on a stack of given `'a` and mode) is stored: the
/// vtable of a body `B` kept inline, and of `B` boxed when it does not fit.
///
/// # Safety
///
/// `INLINE` must describe `B` and `BOXED` must describe `Boxed<B>` (their `words` and functions
/// are for exactly those types).
pub(crate) unsafe trait Storage<B> {
    const INLINE: &'static VTable;
    const BOXED: &'static VTable;
}

/// The storage of sync bodies.
pub(crate) enum SyncStorage {}

// SAFETY: `VTableOf<X>::VTABLE` is built from `X`'s own size and functions.
unsafe impl<B: Body> Storage<B> for SyncStorage {
    const INLINE: &'static VTable = VTableOf::<B>::VTABLE;
    const BOXED: &'static VTable = VTableOf::<Boxed<B>>::VTABLE;
}

/// The vtable of body type `B`, as a per-type constant.
pub(crate) struct VTableOf<B>(PhantomData<fn() -> B>);

impl<B: Body> VTableOf<B> {
    pub(crate) const VTABLE: &'static VTable = &VTable {
        words: words_of::<B>(),
        span: span_of(words_of::<B>()),
        run: run_body::<B>,
        discard: discard_sync_body::<B>,
        tombstone: &tombstone_of(words_of::<B>()),
        start_async: None,
    };
}

/// Safety: `slot` holds an initialized `B` that is never read again.
unsafe fn run_body<B: Body>(slot: *mut Word, pending: &Pending, passed: &Passed<'_>) -> Step {
    // SAFETY: per the contract, the `B` is moved out exactly once, before any user code runs.
    let body = unsafe { slot.cast::<B>().read() };
    body.run(&Exit::view(pending, passed.scope_error), passed.stack)
}

/// Safety: as for `run_body`.
unsafe fn discard_sync_body<B: Body>(slot: *mut Word) -> Option<Box<Arena>> {
    // SAFETY: per the contract, the `B` is moved out exactly once.
    unsafe { slot.cast::<B>().read() }.discard()
}

/// Drops a body that holds no nested stack. Safety: as for `run_body`.
pub(crate) unsafe fn discard_body<B>(slot: *mut Word) -> Option<Box<Arena>> {
    // SAFETY: per the contract, the `B` is dropped exactly once.
    unsafe { slot.cast::<B>().drop_in_place() };
    None
}

/// A body too large (or too aligned) for inline storage, kept on the heap. A raw pointer, not a
/// `Box`, so that a reference to the value inside stays valid while the slot is untouched.
pub(crate) struct Boxed<B>(NonNull<B>);

impl<B> Boxed<B> {
    pub(crate) fn new(body: B) -> Self {
        Boxed(NonNull::from(Box::leak(Box::new(body))))
    }

    /// The body, moved back off the heap.
    pub(crate) fn into_inner(self) -> B {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: the pointer came from `Box::leak` and `this` will not free it again.
        *unsafe { Box::from_raw(this.0.as_ptr()) }
    }
}

impl<B> Drop for Boxed<B> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak`; `into_inner` skips this drop.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

impl<B: Body> Body for Boxed<B> {
    fn run(self, exit: &Exit<'_>, stack: StackRef) -> Step {
        self.into_inner().run(exit, stack)
    }
    fn discard(self) -> Option<Box<Arena>> {
        self.into_inner().discard()
    }
}

impl<B: Holds> Holds for Boxed<B> {
    type Value = B::Value;
    type Rest = B::Rest;
    unsafe fn value(this: *mut Self) -> *mut B::Value {
        // SAFETY: `this` is a live `Boxed`, whose pointer is a live `B`.
        unsafe { B::value((*this).0.as_ptr()) }
    }
    fn into_parts(self) -> (B::Value, B::Rest) {
        self.into_inner().into_parts()
    }
}

/// A cleanup: `callback` (returning `()` or a `Result`).
pub(crate) struct Callback<F>(pub(crate) F);

impl<F, R> Body for Callback<F>
where
    F: FnOnce() -> R,
    R: CleanupOutput,
{
    #[inline]
    fn run(self, _: &Exit<'_>, _: StackRef) -> Step {
        step_of((self.0)().into_result())
    }
}

/// A cleanup that runs only on success or only on failure: `callback_on_success` /
/// `callback_on_error`.
pub(crate) struct OnEnding<F> {
    pub(crate) f: F,
    pub(crate) on_success: bool,
}

impl<F, R> Body for OnEnding<F>
where
    F: FnOnce() -> R,
    R: CleanupOutput,
{
    fn run(self, exit: &Exit<'_>, _: StackRef) -> Step {
        if exit.ending().is_success() != self.on_success {
            #[cfg(feature = "tracing")]
            crate::trace::mark_skipped();
            return Step::DONE;
        }
        step_of((self.f)().into_result())
    }
}

/// An exit handler: `push_exit`.
pub(crate) struct ExitHandler<F>(pub(crate) F);

impl<F, R> Body for ExitHandler<F>
where
    F: FnOnce(&Exit<'_>) -> R,
    R: ExitOutput,
{
    fn run(self, exit: &Exit<'_>, _: StackRef) -> Step {
        step_of_flow((self.0)(exit).into_flow())
    }
}

/// A value released by dropping it: `enter`.
pub(crate) struct Dropped<T>(pub(crate) T);

impl<T> Body for Dropped<T> {
    fn run(self, _: &Exit<'_>, _: StackRef) -> Step {
        step_of(report::drop_collecting(self.0).map_err(Into::into))
    }
}

impl<T> Holds for Dropped<T> {
    type Value = T;
    type Rest = ();
    unsafe fn value(this: *mut Self) -> *mut T {
        // SAFETY: `this` is live; taking a field's address reads nothing.
        unsafe { addr_of_mut!((*this).0) }
    }
    fn into_parts(self) -> (T, ()) {
        (self.0, ())
    }
}

/// A value released through [`Close`]: `enter_closing`.
pub(crate) struct Closed<T>(pub(crate) T);

impl<T: Close> Body for Closed<T> {
    fn run(self, _: &Exit<'_>, _: StackRef) -> Step {
        step_of(self.0.close().map_err(Into::into))
    }
}

impl<T: Close> Holds for Closed<T> {
    type Value = T;
    type Rest = ();
    unsafe fn value(this: *mut Self) -> *mut T {
        // SAFETY: `this` is live; taking a field's address reads nothing.
        unsafe { addr_of_mut!((*this).0) }
    }
    fn into_parts(self) -> (T, ()) {
        (self.0, ())
    }
}

/// A value with its own teardown closure: `guard`.
pub(crate) struct Guard<T, F> {
    pub(crate) value: T,
    pub(crate) teardown: F,
}

impl<T, F, R> Body for Guard<T, F>
where
    F: FnOnce(T) -> R,
    R: CleanupOutput,
{
    fn run(self, _: &Exit<'_>, _: StackRef) -> Step {
        step_of((self.teardown)(self.value).into_result())
    }
}

impl<T, F> Holds for Guard<T, F> {
    type Value = T;
    type Rest = F;
    unsafe fn value(this: *mut Self) -> *mut T {
        // SAFETY: `this` is live; taking a field's address reads nothing.
        unsafe { addr_of_mut!((*this).value) }
    }
    fn into_parts(self) -> (T, F) {
        (self.value, self.teardown)
    }
}

/// The exit half of an entered [`Context`]: `enter_context`.
pub(crate) struct ContextExit<C: Context> {
    pub(crate) target: C::Target,
}

impl<C: Context> Body for ContextExit<C>
where
    C::Error: Into<BoxError>,
{
    fn run(self, exit: &Exit<'_>, _: StackRef) -> Step {
        step_of_flow(C::exit(self.target, exit).map_err(Into::into))
    }
}

impl<C: Context> Holds for ContextExit<C>
where
    C::Error: Into<BoxError>,
{
    type Value = C::Target;
    type Rest = ();
    unsafe fn value(this: *mut Self) -> *mut C::Target {
        // SAFETY: `this` is live; taking a field's address reads nothing.
        unsafe { addr_of_mut!((*this).target) }
    }
    fn into_parts(self) -> (C::Target, ()) {
        (self.target, ())
    }
}

/// A whole stack pushed as one entry: `push_stack`. When it runs, the loop moves its entries on
/// top of the unwinding arena and runs them next, in their own order (no recursion); when it is
/// discarded, the discarding arena takes them over the same way.
pub(crate) struct Nested(pub(crate) Box<Arena>);

impl Body for Nested {
    fn run(self, _: &Exit<'_>, _: StackRef) -> Step {
        Step::splice(self.0)
    }
    fn discard(self) -> Option<Box<Arena>> {
        Some(self.0)
    }
}

/// The step of a cleanup that returned `result`.
#[inline]
pub(crate) fn step_of(result: Result<(), BoxError>) -> Step {
    match result {
        Ok(()) => Step::DONE,
        Err(error) => Step::failed(error),
    }
}

/// The step of an exit handler that answered `flow`.
pub(crate) fn step_of_flow(flow: Result<Flow, BoxError>) -> Step {
    match flow {
        Ok(flow) => flow.into(),
        Err(error) => Step::failed(error),
    }
}
