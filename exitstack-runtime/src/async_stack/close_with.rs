//! [`AsyncExitStack::aclose_with`]: closing an async stack as a scope that failed with a given
//! error.

use std::error::Error;
use std::future::poll_fn;

use super::stack::AsyncExitStack;
use crate::ending::Ending;
use crate::scope::ScopeError;
use crate::stack::closed_with;
use crate::threading::Threading;

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// [`ExitStack::close_with`](crate::ExitStack::close_with) for an async stack: runs every
    /// entry, awaiting async ones, as at the end of an async scope whose body failed with
    /// `error`. Exit handlers (sync and async) see the error and may suppress it, error-only
    /// entries run, the ending is [`Failed`](crate::Ending::Failed). The result is what the
    /// scope would give (a [`ScopeError`] holding `error`, or saying it was suppressed, with
    /// every cleanup error).
    ///
    /// **Cancellation**: dropped part-way, the future leaves the unwind in the stack as a
    /// cancelled [`aclose`](Self::aclose) does (the ending stays `Failed`), but `error` goes with
    /// the dropped future: the entries that run later no longer see it.
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, Flow};
    /// use std::io;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_async_exit(|exit| {
    ///     let timed_out = exit
    ///         .error()
    ///         .and_then(|e| e.downcast_ref::<io::Error>())
    ///         .is_some_and(|e| e.kind() == io::ErrorKind::TimedOut);
    ///     async move {
    ///         tokio::task::yield_now().await; // e.g. roll back, then call it handled
    ///         Flow::suppress_if(timed_out)
    ///     }
    /// });
    /// let error = stack.aclose_with(io::Error::from(io::ErrorKind::TimedOut)).await;
    /// assert!(error.is_suppressed());
    /// # });
    /// ```
    pub async fn aclose_with<E>(&mut self, error: E) -> ScopeError<E>
    where
        E: Error + 'static,
    {
        self.begin_scope_unwind(Ending::Failed, true, None);
        // The view is taken again at each poll, never held across an await: a `&dyn Error` is
        // not `Send`, and the future of a `Send + Sync` error on a `Send` stack must be `Send`.
        poll_fn(|cx| self.poll_unwind(cx, Some(&error))).await;
        let (suppressed, cleanup) = self.finish_unwind(Some(&error));
        closed_with(error, suppressed, cleanup.err())
    }
}
