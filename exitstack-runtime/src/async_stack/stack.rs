//! [`AsyncExitStack`]: the type, its constructors and its registrations.

use std::fmt;
use std::future::Future;
use std::panic::Location;

use super::close::Closing;
use super::context::AsyncContext;
use super::entry::{AsyncBody, AsyncCallback, AsyncContextExit, AsyncExitHandler, AsyncStorage};
use super::handle::{AsyncEntered, AsyncHandle};
use super::limit::{Spawner, TimeLimit};
use crate::entry::{Guard, Holds};
use crate::error::BoxError;
use crate::exit::Exit;
use crate::handle::Handle;
use crate::output::{CleanupOutput, ExitOutput};
use crate::stack::ExitStack;
use crate::threading::{Admits, Local, Sendable, Threading};

/// Python's `AsyncExitStack`: one last-in-first-out stack of sync and async cleanups, closed by
/// awaiting [`aclose`](AsyncExitStack::aclose) or by the async [`scope`](AsyncExitStack::scope)
/// function.
///
/// Every sync registration of [`ExitStack`] is here too ([`callback`](Self::callback),
/// [`push_exit`](Self::push_exit), [`enter`](Self::enter), [`guard`](Self::guard),
/// [`enter_context`](Self::enter_context), ...), with the same behaviour, and shares the one
/// order with the async registrations
/// ([`push_async_callback`](Self::push_async_callback),
/// [`push_async_exit`](Self::push_async_exit),
/// [`enter_async_context`](Self::enter_async_context), [`async_guard`](Self::async_guard)).
///
/// Rust has no async `Drop`, so:
/// - **cancelled `aclose`**: if the `aclose` future is dropped part-way (a timeout, a
///   `select!`), the entry in flight stays in the stack, with every error and panic collected so
///   far; the next `aclose` resumes that entry first, then runs the rest, each exactly once, and
///   returns all the errors;
/// - **dropped without `aclose`**: sync entries run (as for [`ExitStack`], the ending is
///   [`Ending::Abandoned`](crate::Ending::Abandoned) or [`Ending::Panicked`](crate::Ending::Panicked)); async entries, including one left in flight
///   by a cancelled `aclose`, are never run by blocking: each is dropped and reported to the
///   [report channel](crate::report) with reason
///   [`AsyncNotRun`](crate::report::ReportReason::AsyncNotRun), or, with the `tokio` feature
///   and `spawn_on_drop`, spawned on the current tokio runtime.
///
/// `S` is [`Local`] (any entry) or [`Sendable`] (only `Send` entries and futures; the stack is
/// then `Send` and `Sync`, and so are its handles: the stack, a `&stack`, an
/// `enter_async_context` in progress and the handles it returns can all be held across `.await`
/// in a spawned task; see [`SendAsyncExitStack`]). A local stack cannot be held across an
/// `.await` in a task that must be `Send`: make it with
/// [`SendAsyncExitStack::new_send`](AsyncExitStack::new_send) there.
///
/// # Examples
///
/// ```
/// use exitstack::AsyncExitStack;
/// use std::sync::{Arc, Mutex};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let mut stack = AsyncExitStack::new();
/// let sync_log = log.clone();
/// stack.callback(move || sync_log.lock().unwrap().push("sync, registered first"));
/// let async_log = log.clone();
/// stack.push_async_callback(move || async move {
///     async_log.lock().unwrap().push("async, registered last");
/// });
/// stack.aclose().await.unwrap();
/// assert_eq!(*log.lock().unwrap(), ["async, registered last", "sync, registered first"]);
/// # });
/// ```
pub struct AsyncExitStack<'a, S: Threading = Local> {
    pub(super) sync: ExitStack<'a, S>,
    /// The state of a started, unfinished unwind (a cancelled `aclose`).
    /// Boxed: made only when an `aclose` reaches an async entry, and a stack that never does
    /// stays small to move and cheap to drop.
    pub(super) closing: Option<Box<Closing<'a, S>>>,
    pub(super) limit: Option<TimeLimit<'a, S>>,
    pub(super) spawner: Option<Spawner<'a, S>>,
}

// SAFETY: every field is `Send` for `Sendable` (checked just below: the compiler proves it
// from the fields' own impls). Spelled out rather than derived so that a local stack is
// refused as a whole: the error for an `AsyncExitStack<'_, Local>` held across `.await` in a
// spawned task names `AsyncExitStack<'_>` and points to this impl, not the stack's internals.
unsafe impl Send for AsyncExitStack<'_, Sendable> {}

const _: fn() = || {
    fn send<T: Send>() {}
    send::<ExitStack<'static, Sendable>>();
    send::<Option<Box<Closing<'static, Sendable>>>>();
    send::<Option<TimeLimit<'static, Sendable>>>();
    send::<Option<Spawner<'static, Sendable>>>();
};

// SAFETY: through `&AsyncExitStack`, several threads reach only `sync` (a `Sendable`
// `ExitStack`, which is `Sync`: registrations are serialized by its flag) and read whether
// `closing` is set (`is_empty`, `Debug`). `closing`, `limit` and `spawner` are written, and
// their contents (futures, closures that need not be `Sync`) used, only through `&mut self` or
// by value (`aclose`, `with_time_limit`, `spawn_on_drop`, `Drop`), never while the stack is
// shared.
unsafe impl Sync for AsyncExitStack<'_, Sendable> {}

/// An [`AsyncExitStack`] that takes only `Send` entries and futures, and is `Send` and `Sync`
/// itself, as are its handles: a spawned task can hold the stack, a `&stack` and handles
/// across `.await`.
///
/// ```
/// use exitstack::SendAsyncExitStack;
///
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// let task = tokio::spawn(async {
///     let mut stack = SendAsyncExitStack::new_send();
///     stack.push_async_callback(|| async { tokio::task::yield_now().await });
///     tokio::task::yield_now().await; // the stack is held across an await in a spawned task
///     stack.aclose().await
/// });
/// task.await.unwrap().unwrap();
/// # });
/// ```
///
/// The pool pattern, in a spawned task: `enter_async_context(..).await` borrows the stack
/// across the `enter` it awaits, and the handles it returns are held across more awaits.
///
/// ```
/// use exitstack::{AsyncContext, Exit, Flow, SendAsyncExitStack};
/// use std::future::Future;
/// use std::sync::{Arc, Mutex};
///
/// /// A pooled connection, logged when it opens and closes.
/// struct Connect(u32, Arc<Mutex<Vec<String>>>);
/// impl AsyncContext for Connect {
///     type Target = (u32, Arc<Mutex<Vec<String>>>);
///     type Error = std::io::Error;
///     async fn enter(self) -> std::io::Result<Self::Target> {
///         tokio::task::yield_now().await; // e.g. TcpStream::connect
///         Ok((self.0, self.1))
///     }
///     fn exit(
///         (id, log): Self::Target,
///         _: &Exit<'_>,
///     ) -> impl Future<Output = std::io::Result<Flow>> + Send + use<> {
///         async move {
///             tokio::task::yield_now().await; // e.g. shutdown().await
///             log.lock().unwrap().push(format!("closed {id}"));
///             Ok(Flow::Propagate)
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let pool_log = log.clone();
/// let task = tokio::spawn(async move {
///     SendAsyncExitStack::scope_send(|stack| Box::pin(async move {
///         let a = stack.enter_async_context(Connect(1, pool_log.clone())).await?;
///         let b = stack.enter_async_context(Connect(2, pool_log.clone())).await?;
///         tokio::task::yield_now().await; // both handles held across an await
///         assert_eq!((a.0, b.0), (1, 2));
///         Ok::<_, std::io::Error>(())
///     }))
///     .await
/// });
/// task.await.unwrap().unwrap(); // the value, `()`, with the connections closed
/// assert_eq!(*log.lock().unwrap(), ["closed 2", "closed 1"]);
/// # });
/// ```
pub type SendAsyncExitStack<'a> = AsyncExitStack<'a, Sendable>;

impl<'a> AsyncExitStack<'a, Local> {
    /// An empty stack. Its first entries live in the stack itself: a small stack allocates
    /// nothing.
    ///
    /// ```
    /// let stack = exitstack::AsyncExitStack::new();
    /// assert!(stack.is_empty());
    /// ```
    pub fn new() -> Self {
        AsyncExitStack::from_sync(ExitStack::new())
    }
}

impl<'a> AsyncExitStack<'a, Sendable> {
    /// An empty [`SendAsyncExitStack`].
    ///
    /// ```
    /// fn assert_send<T: Send>(_: &T) {}
    /// let stack = exitstack::SendAsyncExitStack::new_send();
    /// assert_send(&stack);
    /// ```
    pub fn new_send() -> Self {
        AsyncExitStack::from_sync(ExitStack::new_send())
    }
}

impl Default for AsyncExitStack<'_, Local> {
    fn default() -> Self {
        AsyncExitStack::new()
    }
}

impl Default for AsyncExitStack<'_, Sendable> {
    fn default() -> Self {
        AsyncExitStack::new_send()
    }
}

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    pub(crate) fn from_sync(sync: ExitStack<'a, S>) -> Self {
        AsyncExitStack {
            sync,
            closing: None,
            limit: None,
            spawner: None,
        }
    }

    /// Stores an async body on the sync stack's arena (one LIFO order for both kinds).
    #[track_caller]
    pub(super) fn push_async<B: AsyncBody<'a>>(&self, body: B) -> Handle<'_, S> {
        self.sync
            .push_stored::<AsyncStorage<'a, S>, B>(body, Location::caller())
    }

    /// Stores an async body that owns a value, and returns the handle that lends it out.
    #[track_caller]
    pub(super) fn push_async_holding<B: AsyncBody<'a> + Holds>(
        &self,
        body: B,
    ) -> AsyncEntered<'_, B::Value, S> {
        self.push_async_holding_at(body, Location::caller())
    }

    fn push_async_holding_at<B: AsyncBody<'a> + Holds>(
        &self,
        body: B,
        location: &'static Location<'static>,
    ) -> AsyncEntered<'_, B::Value, S> {
        let entered = self
            .sync
            .push_holding_stored::<AsyncStorage<'a, S>, B>(body, location);
        AsyncEntered::new(entered)
    }

    /// Registers an async cleanup: `f` is called when `aclose` reaches the entry, and the
    /// future it returns is awaited before the next entry runs. The future resolves to `()` or
    /// to a `Result` whose error joins the result of `aclose` (see
    /// [`CleanupOutput`](crate::CleanupOutput)).
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let flushed = AtomicUsize::new(0);
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_async_callback(|| async {
    ///     tokio::task::yield_now().await; // e.g. flush a buffer to a socket
    ///     flushed.fetch_add(1, Ordering::SeqCst);
    /// });
    /// stack.push_async_callback(|| async { Err::<(), _>("flush failed") }).label("flush");
    /// let errors = stack.aclose().await.unwrap_err();
    /// assert_eq!(errors.first().label(), Some("flush"));
    /// assert_eq!(flushed.load(Ordering::SeqCst), 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn push_async_callback<F, Fut>(&self, f: F) -> AsyncHandle<'_, S>
    where
        F: FnOnce() -> Fut + 'a,
        Fut: Future + 'a,
        Fut::Output: CleanupOutput,
        S: Admits<F> + Admits<Fut>,
    {
        AsyncHandle::new(self.push_async(AsyncCallback(f)))
    }

    /// Registers an async exit handler. The handler is called with the [`Exit`] when `aclose`
    /// reaches it and returns a future that says whether to suppress what is pending (any
    /// [`ExitOutput`](crate::ExitOutput): a `Flow`, `()`, or a `Result` of either). The future
    /// cannot borrow the `Exit`: read what you need from it first.
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, Flow};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_async_exit(|exit| {
    ///     let failing = exit.error().is_some();
    ///     async move {
    ///         tokio::task::yield_now().await; // e.g. roll back a transaction
    ///         Flow::suppress_if(failing)
    ///     }
    /// });
    /// stack.callback(|| Err::<(), _>("suppressed by the async handler"));
    /// assert!(stack.aclose().await.is_ok());
    ///
    /// stack.push_async_exit(|_| async { Err::<Flow, _>("rollback failed") });
    /// assert_eq!(stack.aclose().await.unwrap_err().len(), 1);
    /// # });
    /// ```
    #[track_caller]
    pub fn push_async_exit<F, Fut>(&self, handler: F) -> AsyncHandle<'_, S>
    where
        F: FnOnce(&Exit<'_>) -> Fut + 'a,
        Fut: Future + 'a,
        Fut::Output: ExitOutput,
        S: Admits<F> + Admits<Fut>,
    {
        AsyncHandle::new(self.push_async(AsyncExitHandler(handler)))
    }

    /// Moves `value` into the stack with an async teardown, which receives it by value and is
    /// awaited when the stack closes; the teardown's future resolves to `()` or a `Result`.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// let mut buffer = stack.async_guard(Vec::new(), |buffer: Vec<u8>| async move {
    ///     assert_eq!(buffer, b"flushed on close");
    /// });
    /// buffer.extend_from_slice(b"flushed on close");
    /// stack.aclose().await.unwrap();
    ///
    /// stack.async_guard(7, |_| async { Err::<(), _>("could not release 7") });
    /// assert!(stack.aclose().await.is_err());
    /// # });
    /// ```
    #[track_caller]
    pub fn async_guard<T, F, Fut>(&self, value: T, teardown: F) -> AsyncEntered<'_, T, S>
    where
        T: 'a,
        F: FnOnce(T) -> Fut + 'a,
        Fut: Future + 'a,
        Fut::Output: CleanupOutput,
        S: Admits<(T, F)> + Admits<Fut>,
    {
        self.push_async_holding(Guard { value, teardown })
    }

    /// Enters an [`AsyncContext`]: awaits its `enter` and, if that succeeds, registers its
    /// `exit` and returns a handle to the target. If `enter` fails, nothing is registered.
    ///
    /// The future borrows the stack while `enter` runs; it is `Send` for a
    /// [`SendAsyncExitStack`], so it can be awaited in a spawned task (see there). See
    /// [`AsyncContext`] for a context that succeeds; one that fails registers nothing:
    ///
    /// ```
    /// use exitstack::{AsyncContext, AsyncExitStack, Exit, Flow};
    /// use std::future::Future;
    ///
    /// struct Refused;
    /// impl AsyncContext for Refused {
    ///     type Target = ();
    ///     type Error = std::fmt::Error;
    ///     async fn enter(self) -> Result<(), std::fmt::Error> { Err(std::fmt::Error) }
    ///     fn exit(_: (), _: &Exit<'_>) -> impl Future<Output = Result<Flow, std::fmt::Error>> + Send + use<> {
    ///         async { unreachable!() }
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let stack = AsyncExitStack::new();
    /// assert!(stack.enter_async_context(Refused).await.is_err());
    /// assert!(stack.is_empty());
    /// # });
    /// ```
    #[track_caller]
    pub fn enter_async_context<C>(
        &self,
        context: C,
    ) -> impl Future<Output = Result<AsyncEntered<'_, C::Target, S>, C::Error>> + use<'_, 'a, C, S>
    where
        C: AsyncContext + 'a,
        C::Target: 'a,
        C::Error: Into<BoxError>,
        S: Admits<C::Target>,
    {
        let site = Location::caller();
        async move {
            let target = context.enter().await?;
            Ok(self.push_async_context_at::<C>(target, site))
        }
    }

    /// Registers the exit of an [`AsyncContext`] whose `enter` the caller already awaited (to
    /// enter it elsewhere, or with a timeout of its own).
    ///
    /// ```
    /// use exitstack::{AsyncContext, Exit, Flow, SendAsyncExitStack};
    /// use std::future::Future;
    ///
    /// struct Lease(u32);
    /// impl AsyncContext for Lease {
    ///     type Target = u32;
    ///     type Error = std::io::Error;
    ///     async fn enter(self) -> std::io::Result<u32> { Ok(self.0) }
    ///     fn exit(_: u32, _: &Exit<'_>) -> impl Future<Output = std::io::Result<Flow>> + Send + use<> {
    ///         async { Ok(Flow::Propagate) }
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
    /// tokio::spawn(async {
    ///     let mut stack = SendAsyncExitStack::new_send();
    ///     let lease = Lease(7).enter().await.unwrap();
    ///     let lease: &mut u32 = stack.push_async_context::<Lease>(lease).into_mut();
    ///     tokio::task::yield_now().await;
    ///     assert_eq!(*lease, 7);
    ///     stack.aclose().await.unwrap();
    /// })
    /// .await
    /// .unwrap();
    /// # });
    /// ```
    #[track_caller]
    pub fn push_async_context<C>(&self, target: C::Target) -> AsyncEntered<'_, C::Target, S>
    where
        C: AsyncContext + 'a,
        C::Target: 'a,
        C::Error: Into<BoxError>,
        S: Admits<C::Target>,
    {
        self.push_async_context_at::<C>(target, Location::caller())
    }

    fn push_async_context_at<C>(
        &self,
        target: C::Target,
        site: &'static Location<'static>,
    ) -> AsyncEntered<'_, C::Target, S>
    where
        C: AsyncContext + 'a,
        C::Target: 'a,
        C::Error: Into<BoxError>,
    {
        // The registration site is the caller's, even across the `enter` await.
        self.push_async_holding_at(AsyncContextExit::<C> { target }, site)
    }

    /// Pushes a whole async stack as one entry: when `aclose` reaches it, its entries (sync and
    /// async) run next, in their own order. A cancelled `aclose` of `other` that left an entry
    /// in flight is not carried over: dropping `other` reports it.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::sync::Mutex;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let log = Mutex::new(Vec::new());
    /// let mut outer = AsyncExitStack::new();
    /// let inner = AsyncExitStack::new();
    /// inner.push_async_callback(|| async { log.lock().unwrap().push("inner") });
    /// outer.push_async_callback(|| async { log.lock().unwrap().push("outer") });
    /// outer.push_async_stack(inner);
    /// outer.aclose().await.unwrap();
    /// assert_eq!(*log.lock().unwrap(), ["inner", "outer"]);
    /// # });
    /// ```
    #[track_caller]
    pub fn push_async_stack(&self, mut other: AsyncExitStack<'a, S>) -> AsyncHandle<'_, S> {
        AsyncHandle::new(self.sync.push_stack(other.sync.pop_all()))
    }

    /// Whether nothing is registered and no cancelled `aclose` left work behind.
    ///
    /// ```
    /// let stack = exitstack::AsyncExitStack::new();
    /// assert!(stack.is_empty());
    /// stack.push_async_callback(|| async {});
    /// assert!(!stack.is_empty());
    /// # let mut stack = stack; // closed, not forgotten: Miri checks doc tests for leaks
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// # runtime.block_on(stack.aclose()).unwrap();
    /// ```
    pub fn is_empty(&self) -> bool {
        self.sync.is_empty() && self.closing.is_none()
    }

    /// Moves every registered entry into a new stack, in constant time, leaving this one empty
    /// and usable. The time limit and `spawn_on_drop` setting stay with this stack, as does the
    /// state of a cancelled `aclose` (finished by this stack's next `aclose` or drop).
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let closed = AtomicBool::new(false);
    /// let mut kept = {
    ///     let mut stack = AsyncExitStack::new();
    ///     stack.push_async_callback(|| async { closed.store(true, Ordering::SeqCst) });
    ///     stack.pop_all() // every acquisition succeeded: hand them over
    /// };
    /// assert!(!closed.load(Ordering::SeqCst));
    /// kept.aclose().await.unwrap();
    /// assert!(closed.load(Ordering::SeqCst));
    /// # });
    /// ```
    pub fn pop_all(&mut self) -> AsyncExitStack<'a, S> {
        AsyncExitStack::from_sync(self.sync.pop_all())
    }
}

impl<S: Threading> fmt::Debug for AsyncExitStack<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncExitStack")
            .field("empty", &self.is_empty())
            .field("closing", &self.closing.is_some())
            .finish_non_exhaustive()
    }
}
