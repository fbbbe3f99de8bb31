//! The async scope function: run an async body with a fresh stack, then unwind it, awaiting
//! async entries, with the body's real outcome (its error, or its panic); a body future
//! dropped before it finished unwinds the stack as [`Ending::Cancelled`].

use std::any::Any;
use std::error::Error;
use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::Poll;

use super::stack::AsyncExitStack;
use crate::ending::Ending;
use crate::scope::{scope_result, BodyEnd, ScopeError, ScopeResult};
use crate::threading::{Local, Sendable, Threading};

impl<'a> AsyncExitStack<'a, Local> {
    /// Runs the async `body` with a new stack, then unwinds the stack with the body's real
    /// outcome: exit handlers (sync and async) see the body's error and may suppress it; a panic
    /// in the body runs every entry, awaiting async ones, and is then resumed. The result is the
    /// one [`ExitStack::scope`](crate::ExitStack::scope) gives.
    ///
    /// The body gets `&mut` access (so it can also `pop_all` to hand resources out, or `aclose`
    /// early); a `&mut` to a `Send` stack is `Send`, which keeps
    /// [`scope_send`](AsyncExitStack::scope_send) usable in spawned tasks.
    ///
    /// **Cancellation**: if the scope future is dropped while the body runs (a timeout, a
    /// `select!`), the stack is dropped with it and unwinds as
    /// [`Ending::Cancelled`](crate::Ending::Cancelled): sync entries run then (error-only ones
    /// included), async ones are reported or spawned as for any dropped stack (see the `Drop` of
    /// [`AsyncExitStack`]). Dropped during a panic, it unwinds as `Panicked`. Dropped once the
    /// body has finished, while async entries are awaited, the unwind keeps the body's ending
    /// (`Succeeded` becomes `Abandoned`, as for a stack dropped during a cancelled `aclose`).
    ///
    /// # Examples
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, Flow};
    /// use std::io;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let value = AsyncExitStack::scope(async |stack| {
    ///     stack.push_async_callback(|| async { tokio::task::yield_now().await });
    ///     Ok::<_, io::Error>(7)
    /// })
    /// .await
    /// .unwrap();
    /// assert_eq!(value, 7);
    ///
    /// // A suppressed error gives no value either, and says it was suppressed.
    /// let error = AsyncExitStack::scope(async |stack| {
    ///     stack.push_async_exit(|exit| {
    ///         let interrupted = exit
    ///             .error()
    ///             .and_then(|e| e.downcast_ref::<io::Error>())
    ///             .is_some_and(|e| e.kind() == io::ErrorKind::Interrupted);
    ///         async move { Flow::suppress_if(interrupted) }
    ///     });
    ///     tokio::task::yield_now().await;
    ///     Err::<(), _>(io::Error::from(io::ErrorKind::Interrupted))
    /// })
    /// .await
    /// .unwrap_err();
    /// assert!(error.is_suppressed());
    /// # });
    /// ```
    pub async fn scope<T, E, F>(body: F) -> Result<T, ScopeError<E>>
    where
        F: AsyncFnOnce(&mut AsyncExitStack<'a, Local>) -> Result<T, E>,
        E: Error + 'static,
    {
        Self::scope_viewed(body, |error| Some(error)).await
    }

    /// [`scope`](AsyncExitStack::scope) for any error type: `view` shows the body's error to
    /// exit handlers (`#[with_stack]` on an `async fn`, through `__private::async_scope`).
    pub(crate) async fn scope_viewed<T, E, F, V>(body: F, view: V) -> ScopeResult<T, E>
    where
        F: AsyncFnOnce(&mut AsyncExitStack<'a, Local>) -> Result<T, E>,
        V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
    {
        let mut guard = OnCancel::new(AsyncExitStack::new());
        let result = catch_panic(body(guard.stack())).await;
        unwind_scope(guard.disarm(), result, view).await
    }
}

/// The future a [`scope_send`](AsyncExitStack::scope_send) body returns: boxed, and `Send`.
///
/// ```
/// use exitstack::{SendAsyncExitStack, SendScopeFuture};
///
/// // A named body, for reuse: it borrows the stack for the future's lifetime `'s`.
/// fn body<'s>(stack: &'s mut SendAsyncExitStack<'static>) -> SendScopeFuture<'s, u8, std::fmt::Error> {
///     Box::pin(async move {
///         stack.push_async_callback(|| async {});
///         Ok(2)
///     })
/// }
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert_eq!(SendAsyncExitStack::scope_send(body).await.unwrap(), 2);
/// # });
/// ```
pub type SendScopeFuture<'s, T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send + 's>>;

impl<'a> AsyncExitStack<'a, Sendable> {
    /// [`scope`](AsyncExitStack::scope) with a [`SendAsyncExitStack`](crate::SendAsyncExitStack),
    /// whose future is `Send`, to be spawned.
    ///
    /// The body returns a boxed `Send` future (`|stack| Box::pin(async move { .. })`), as with
    /// `sqlx`'s transactions: rustc cannot yet prove an async closure's future `Send` for every
    /// lifetime of the `&mut` it receives ("implementation of `AsyncFnOnce` is not general
    /// enough"); the box states it instead.
    ///
    /// ```
    /// use exitstack::SendAsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
    /// let task = tokio::spawn(SendAsyncExitStack::scope_send(|stack| {
    ///     Box::pin(async move {
    ///         stack.push_async_callback(|| async { tokio::task::yield_now().await });
    ///         tokio::task::yield_now().await;
    ///         Ok::<_, std::fmt::Error>(1)
    ///     })
    /// }));
    /// assert_eq!(task.await.unwrap().unwrap(), 1);
    /// # });
    /// ```
    pub async fn scope_send<T, E, F>(body: F) -> Result<T, ScopeError<E>>
    where
        F: for<'s> FnOnce(&'s mut AsyncExitStack<'a, Sendable>) -> SendScopeFuture<'s, T, E>,
        E: Error + 'static,
    {
        Self::scope_send_viewed(body, |error| Some(error)).await
    }

    /// [`scope_send`](AsyncExitStack::scope_send) for any error type: `view` shows the body's
    /// error to exit handlers (`#[with_stack(send)]`, through `__private::async_scope_send`).
    pub(crate) async fn scope_send_viewed<T, E, F, V>(body: F, view: V) -> ScopeResult<T, E>
    where
        F: for<'s> FnOnce(&'s mut AsyncExitStack<'a, Sendable>) -> SendScopeFuture<'s, T, E>,
        V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
    {
        let mut guard = OnCancel::new(AsyncExitStack::new_send());
        let result = catch_panic(body(guard.stack())).await;
        unwind_scope(guard.disarm(), result, view).await
    }
}

/// Awaits a future in place (a scope's body, a graceful release), turning a panic into `Err`.
pub(super) async fn catch_panic<F: Future>(body: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut body = pin!(body);
    poll_fn(
        |cx| match panic::catch_unwind(AssertUnwindSafe(|| body.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}

/// Unwinds the scope's stack with the body's outcome and builds the scope's result; `view`
/// shows the body's error to exit handlers, as in the sync `unwind_scope`.
///
/// The view is taken again at each poll, never held across an await: a `&dyn Error` is not
/// `Send`, and the scope's future of a `Send + Sync` error must stay `Send`.
async fn unwind_scope<S, T, E, V>(
    mut stack: AsyncExitStack<'_, S>,
    result: Result<Result<T, E>, Box<dyn Any + Send>>,
    view: V,
) -> ScopeResult<T, E>
where
    S: Threading,
    V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
{
    let end = BodyEnd::new(result);
    let ending = end.ending();
    let BodyEnd {
        value,
        error,
        panic: payload,
    } = end;
    let shown = error.as_ref().and_then(&view).is_some();
    stack.begin_scope_unwind(ending, shown, payload);
    poll_fn(|cx| stack.poll_unwind(cx, error.as_ref().and_then(&view))).await;
    let (suppressed, cleanup) = stack.finish_unwind(error.as_ref().and_then(&view));
    drop(stack);
    scope_result(value, error, suppressed, cleanup.err())
}

/// Owns an async scope's stack while the body runs. Dropped before [`disarm`](Self::disarm)
/// (the scope future was dropped with the body in flight), it starts the stack's unwind as
/// cancelled, and then drops the stack: sync entries run now, async ones are reported or
/// spawned by the stack's `Drop`.
struct OnCancel<'a, S: Threading>(Option<AsyncExitStack<'a, S>>);

impl<'a, S: Threading> OnCancel<'a, S> {
    fn new(stack: AsyncExitStack<'a, S>) -> Self {
        OnCancel(Some(stack))
    }

    /// The stack, for the body.
    fn stack(&mut self) -> &mut AsyncExitStack<'a, S> {
        self.0.as_mut().expect("the stack stays until disarmed")
    }

    /// The body finished (returned or panicked): the scope unwinds with its real outcome.
    fn disarm(mut self) -> AsyncExitStack<'a, S> {
        self.0.take().expect("disarmed once")
    }
}

impl<S: Threading> Drop for OnCancel<'_, S> {
    fn drop(&mut self) {
        let Some(mut stack) = self.0.take() else {
            return;
        };
        // Dropped by a panic (the thread is panicking): the stack's `Drop` says `Panicked`, as
        // for any stack dropped during a panic. Otherwise the body was cancelled. A cancelled
        // `aclose` the body left behind continues with this ending, its errors kept.
        if !std::thread::panicking() && !stack.is_empty() {
            stack.begin_scope_unwind(Ending::Cancelled, false, None);
        }
        drop(stack);
    }
}
