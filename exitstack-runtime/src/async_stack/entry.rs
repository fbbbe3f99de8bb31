//! The async kinds of entry: bodies stored in the same arena as the sync ones, whose vtable
//! has a `start_async` function that moves the body out and builds its future.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::addr_of_mut;
use std::task::{Context as TaskContext, Poll};

use super::context::AsyncContext;
use super::errors::NotRunError;
use crate::arena::{span_of, tombstone_of, words_of, Passed, StartAsync, Step, VTable, Word};
use crate::ending::Flow;
use crate::entry::{discard_body, Boxed, Guard, Holds, Storage};
use crate::error::BoxError;
use crate::exit::Exit;
use crate::output::{CleanupOutput, ExitOutput};
use crate::pending::Pending;
use crate::site::Site;
use crate::threading::{Sendable, Threading};

/// What the future of an async entry resolves to.
pub(crate) type Flowed = Result<Flow, BoxError>;

/// The future of one async entry, type-erased. `S` records whether it is `Send`. The
/// `start_async` slot of a vtable (`arena::StartAsync`) moves an async body out of its slot and
/// writes its future, as an `Option<EntryFuture<'a, S>>` for the `'a` and `S` of the stack it
/// was pushed on, to `out`.
pub(crate) struct EntryFuture<'a, S> {
    future: Pin<Box<dyn Future<Output = Flowed> + 'a>>,
    _mode: PhantomData<fn() -> S>,
}

// SAFETY: an `EntryFuture<'_, Sendable>` is only built by `start_body::<Sendable, _>` from a body
// pushed on a `Sendable` stack, whose registration required both the body and the future it
// returns to be `Send` (`Sendable: Admits<T>` needs `T: Send`).
unsafe impl Send for EntryFuture<'_, Sendable> {}

impl<'a, S> EntryFuture<'a, S> {
    /// Safety (for `S = Sendable`): `future` is `Send`.
    unsafe fn new(future: Pin<Box<dyn Future<Output = Flowed> + 'a>>) -> Self {
        EntryFuture {
            future,
            _mode: PhantomData,
        }
    }
}

impl<S> Future for EntryFuture<'_, S> {
    type Output = Flowed;
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Flowed> {
        self.get_mut().future.as_mut().poll(cx)
    }
}

/// Builds the future of an async entry through its vtable's `start_async`: the one place that
/// turns the type-erased out-parameter back into a typed future.
///
/// Safety: `body` holds the live body of an async entry whose vtable's `start_async` is
/// `start`, pushed on a stack of mode `S` and lifetime `'a`; the body is never read again.
pub(crate) unsafe fn start_future<'a, S>(
    start: StartAsync,
    body: *mut Word,
    exit: &Exit<'_>,
) -> EntryFuture<'a, S> {
    let mut future: Option<EntryFuture<'a, S>> = None;
    let out = (&mut future as *mut Option<EntryFuture<'a, S>>).cast();
    // SAFETY: forwarded from the caller; `out` is the `Option<EntryFuture<'a, S>>` that
    // `start` expects for a body pushed on an `S` stack of lifetime `'a`.
    unsafe { start(body, exit, out) };
    future.expect("start_async writes the future when it returns")
}

/// A site that may cross threads with the future it names.
pub(crate) struct SendSite(pub(crate) Site);

// SAFETY: a `Site` owns either a `&'static Location` or a boxed (`&'static Location`,
// `Cow<'static, str>`) record; both are `Send + Sync`, the raw pointer only tags which.
unsafe impl Send for SendSite {}

/// An async entry body: consumed when its future is built.
pub(crate) trait AsyncBody<'a>: Sized + 'a {
    /// Builds the future. Runs the synchronous part of the entry (an exit handler looks at
    /// `exit` here; its future cannot borrow it).
    fn start(self, exit: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>>;
}

/// The vtable of async body `B` on a stack of mode `S` and lifetime `'a`.
pub(crate) struct AsyncVTableOf<'a, S, B>(PhantomData<VTableKey<'a, S, B>>);

type VTableKey<'a, S, B> = fn() -> (&'a (), S, B);

/// The storage of async bodies on a stack of mode `S` and lifetime `'a`.
pub(crate) struct AsyncStorage<'a, S>(PhantomData<VTableKey<'a, S, ()>>);

// SAFETY: `AsyncVTableOf<'a, S, X>::VTABLE` is built from `X`'s own size and functions.
unsafe impl<'a, S: Threading, B: AsyncBody<'a>> Storage<B> for AsyncStorage<'a, S> {
    const INLINE: &'static VTable = AsyncVTableOf::<'a, S, B>::VTABLE;
    const BOXED: &'static VTable = AsyncVTableOf::<'a, S, Boxed<B>>::VTABLE;
}

impl<'a, S: Threading, B: AsyncBody<'a>> AsyncVTableOf<'a, S, B> {
    pub(crate) const VTABLE: &'static VTable = &VTable {
        words: words_of::<B>(),
        span: span_of(words_of::<B>()),
        run: run_without_runtime::<B>,
        discard: discard_body::<B>,
        tombstone: &tombstone_of(words_of::<B>()),
        start_async: Some(Self::start),
    };
}

/// The sync path for an async body (reached only if an async entry is run synchronously):
/// the body is dropped and the entry fails with [`NotRunError`].
///
/// Safety: `slot` holds an initialized `B` that is never read again.
unsafe fn run_without_runtime<B>(slot: *mut Word, _: &Pending, _: &Passed<'_>) -> Step {
    // SAFETY: per the contract, the `B` is dropped exactly once.
    unsafe { slot.cast::<B>().drop_in_place() };
    Step::failed(Box::new(NotRunError))
}

impl<'a, S: Threading, B: AsyncBody<'a>> AsyncVTableOf<'a, S, B> {
    /// Safety: `slot` holds an initialized `B` that is never read again, pushed on a stack of mode
    /// `S` and lifetime `'a`; `out` points to an `Option<EntryFuture<'b, S>>` with `'a: 'b`.
    unsafe fn start(slot: *mut Word, exit: &Exit<'_>, out: *mut ()) {
        // SAFETY: per the contract, the `B` is moved out exactly once, before any user code runs.
        let body = unsafe { slot.cast::<B>().read() };
        let future = body.start(exit);
        // SAFETY: the registration that pushed `B` on an `S` stack checked `S: Admits<_>` for the
        // body and its future, so for `Sendable` the future is `Send`. Writing an `'a` future where
        // a shorter-lived one is expected is the covariant coercion, done through the pointer.
        unsafe {
            out.cast::<Option<EntryFuture<'a, S>>>()
                .write(Some(EntryFuture::new(future)))
        }
    }
}

/// A body too large for inline storage (the sync stack's `Boxed`).
impl<'a, B: AsyncBody<'a>> AsyncBody<'a> for Boxed<B> {
    fn start(self, exit: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>> {
        self.into_inner().start(exit)
    }
}

/// `push_async_callback`: the future resolves to `()` or a `Result`.
pub(crate) struct AsyncCallback<F>(pub(crate) F);

impl<'a, F, Fut> AsyncBody<'a> for AsyncCallback<F>
where
    F: FnOnce() -> Fut + 'a,
    Fut: Future + 'a,
    Fut::Output: CleanupOutput,
{
    fn start(self, _: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>> {
        let future = (self.0)();
        Box::pin(async move { future.await.into_result().map(|()| Flow::Propagate) })
    }
}

/// `push_async_exit`: the handler sees the exit synchronously and returns the future that
/// decides.
pub(crate) struct AsyncExitHandler<F>(pub(crate) F);

impl<'a, F, Fut> AsyncBody<'a> for AsyncExitHandler<F>
where
    F: FnOnce(&Exit<'_>) -> Fut + 'a,
    Fut: Future + 'a,
    Fut::Output: ExitOutput,
{
    fn start(self, exit: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>> {
        let future = (self.0)(exit);
        Box::pin(async move { future.await.into_flow() })
    }
}

/// A value with an async teardown: `async_guard` (the sync stack's `Guard`, whose teardown
/// returns a future here).
impl<'a, T, F, Fut> AsyncBody<'a> for Guard<T, F>
where
    T: 'a,
    F: FnOnce(T) -> Fut + 'a,
    Fut: Future + 'a,
    Fut::Output: CleanupOutput,
{
    fn start(self, _: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>> {
        let future = (self.teardown)(self.value);
        Box::pin(async move { future.await.into_result().map(|()| Flow::Propagate) })
    }
}

/// The exit half of an entered [`AsyncContext`].
pub(crate) struct AsyncContextExit<C: AsyncContext> {
    pub(crate) target: C::Target,
}

impl<'a, C> AsyncBody<'a> for AsyncContextExit<C>
where
    C: AsyncContext + 'a,
    C::Target: 'a,
    C::Error: Into<BoxError>,
{
    fn start(self, exit: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>> {
        let future = C::exit(self.target, exit);
        Box::pin(async move { future.await.map_err(Into::into) })
    }
}

impl<C: AsyncContext> Holds for AsyncContextExit<C> {
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
