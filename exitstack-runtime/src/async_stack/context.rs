//! [`AsyncContext`]: Python's async context-manager protocol (`__aenter__` / `__aexit__`).

use std::future::Future;

use crate::ending::Flow;
use crate::exit::Exit;

/// An async context: `enter` acquires the target asynchronously (and may fail, in which case
/// nothing is registered); `exit` receives the target back when the stack closes, looks at how
/// the scope ended, and returns the future that releases it and says whether to suppress.
///
/// `exit` sees the [`Exit`] synchronously: read what you need from it (an error kind, whether
/// the scope failed) before the `async` block, because the future must not borrow it. That is
/// what `use<Self>` in the signature says, and why an implementation spells out its captures
/// (`+ use<>` for a type without lifetimes, `+ use<'l>` for one with a lifetime `'l`). The
/// future is `Send`, so a context works on every stack, including a
/// [`SendAsyncExitStack`](crate::SendAsyncExitStack) in a spawned task.
///
/// # Examples
///
/// ```
/// use exitstack::{AsyncContext, AsyncExitStack, Exit, Flow};
/// use std::future::Future;
/// use std::sync::{Arc, Mutex};
///
/// struct Session(Arc<Mutex<Vec<String>>>);
///
/// impl AsyncContext for Session {
///     type Target = Arc<Mutex<Vec<String>>>;
///     type Error = std::io::Error;
///
///     async fn enter(self) -> std::io::Result<Self::Target> {
///         self.0.lock().unwrap().push("open".into());
///         Ok(self.0)
///     }
///
///     fn exit(
///         log: Self::Target,
///         exit: &Exit<'_>,
///     ) -> impl Future<Output = std::io::Result<Flow>> + Send + use<> {
///         let failing = !exit.ending().is_success(); // read the exit now ...
///         async move {
///             // ... and release asynchronously.
///             log.lock().unwrap().push(format!("close, failing: {failing}"));
///             Ok(Flow::Propagate)
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let mut stack = AsyncExitStack::new();
/// let session = stack.enter_async_context(Session(log.clone())).await.unwrap();
/// session.lock().unwrap().push("work".into());
/// stack.aclose().await.unwrap();
/// assert_eq!(*log.lock().unwrap(), ["open", "work", "close, failing: false"]);
/// # });
/// ```
pub trait AsyncContext: Sized {
    /// What `enter` yields: the resource in use, owned by the stack until it closes.
    type Target;
    /// The error of a failed `enter` or `exit`.
    type Error;

    /// Acquires the resource. On error nothing is registered.
    ///
    /// ```
    /// use exitstack::{AsyncContext, AsyncExitStack, Exit, Flow};
    /// use std::future::Future;
    ///
    /// struct Connect(&'static str);
    /// impl AsyncContext for Connect {
    ///     type Target = String;
    ///     type Error = String;
    ///     async fn enter(self) -> Result<String, String> {
    ///         if self.0.is_empty() { Err("no address".into()) } else { Ok(format!("conn to {}", self.0)) }
    ///     }
    ///     fn exit(_: String, _: &Exit<'_>) -> impl Future<Output = Result<Flow, String>> + Send + use<> {
    ///         async { Ok(Flow::Propagate) }
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// assert_eq!(*stack.enter_async_context(Connect("db")).await.unwrap(), "conn to db");
    /// assert_eq!(stack.enter_async_context(Connect("")).await.unwrap_err(), "no address");
    /// stack.aclose().await.unwrap();
    /// # });
    /// ```
    fn enter(self) -> impl Future<Output = Result<Self::Target, Self::Error>>;

    /// Releases the resource. Look at `exit` now; the returned future runs when the stack's
    /// `aclose` reaches this entry and may suppress the pending error with [`Flow::Suppress`].
    ///
    /// ```
    /// use exitstack::{AsyncContext, AsyncExitStack, Exit, Flow};
    /// use std::future::Future;
    ///
    /// /// Suppresses a pending error after an async rollback.
    /// struct Rollback;
    /// impl AsyncContext for Rollback {
    ///     type Target = ();
    ///     type Error = std::convert::Infallible;
    ///     async fn enter(self) -> Result<(), Self::Error> { Ok(()) }
    ///     fn exit((): (), exit: &Exit<'_>) -> impl Future<Output = Result<Flow, Self::Error>> + Send + use<> {
    ///         let failed = exit.error().is_some(); // read now, before the future
    ///         async move { Ok(Flow::suppress_if(failed)) }
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// stack.enter_async_context(Rollback).await.unwrap();
    /// stack.push_async_callback(|| async { Err("commit failed") });
    /// assert!(stack.aclose().await.is_ok()); // suppressed by the context's exit
    /// # });
    /// ```
    fn exit(
        target: Self::Target,
        exit: &Exit<'_>,
    ) -> impl Future<Output = Result<Flow, Self::Error>> + Send + use<Self>;
}
