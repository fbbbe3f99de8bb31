//! Shielded close (feature `tokio`): [`AsyncExitStack::aclose_shielded`], a close that goes on
//! on a task of its own when its future is dropped, bounded by a grace period.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use super::stack::{AsyncExitStack, SendAsyncExitStack};
use crate::caught;
use crate::error::UnwindError;
use crate::report::ReportReason;
use crate::threading::Sendable;

impl AsyncExitStack<'static, Sendable> {
    /// Closes the stack within `grace` (as [`aclose_within`](Self::aclose_within) with tokio's
    /// timer), shielded from cancellation: if the returned future is dropped before it
    /// finished (a timeout, a `select!`, an aborted task), the close goes on, on a tokio task
    /// of its own that owns the stack, until the same deadline; what is left then is forced.
    /// Never an unbounded wait.
    ///
    /// The errors reach whoever awaits the future; once it is dropped, the task sends them to
    /// the [report channel](crate::report) (reason `Dropped`; a panic of an entry is reported
    /// too, not resumed on the runtime). Outside a tokio runtime, a dropped future drops the
    /// stack (its sync entries run, its async ones are reported). The runtime needs its time
    /// driver (`enable_time`).
    ///
    /// # Examples
    ///
    /// ```
    /// use exitstack::SendAsyncExitStack;
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let (done, finished) = tokio::sync::oneshot::channel();
    /// let stack = SendAsyncExitStack::new_send();
    /// stack.push_async_callback(move || async move {
    ///     tokio::time::sleep(Duration::from_secs(2)).await; // e.g. flush to a peer
    ///     done.send(()).unwrap();
    /// });
    /// let closing = stack.aclose_shielded(Duration::from_secs(10));
    /// // The caller gives up after one second; the close goes on without it.
    /// assert!(tokio::time::timeout(Duration::from_secs(1), closing).await.is_err());
    /// finished.await.unwrap();
    /// # });
    /// ```
    pub fn aclose_shielded(self, grace: Duration) -> ShieldedClose {
        ShieldedClose {
            stack: Some(self),
            grace,
            timer: None,
        }
    }
}

/// The future of [`AsyncExitStack::aclose_shielded`]: dropped before it finished, it hands the
/// stack to a tokio task that finishes the close by the same deadline.
#[must_use = "futures do nothing unless awaited (dropped unpolled, the close runs on a task)"]
pub struct ShieldedClose {
    stack: Option<SendAsyncExitStack<'static>>,
    grace: Duration,
    /// Started at the first poll (or at the drop, if never polled).
    timer: Option<Pin<Box<Sleep>>>,
}

impl Future for ShieldedClose {
    type Output = Result<(), UnwindError>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let grace = this.grace;
        let Some(stack) = this.stack.as_mut() else {
            return Poll::Ready(Ok(())); // polled again after it finished
        };
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(grace)));
        let polled = stack.poll_within(cx, Some(timer.as_mut()), grace);
        if polled.is_ready() {
            this.stack = None; // empty: dropping it runs nothing
        }
        polled
    }
}

impl Drop for ShieldedClose {
    fn drop(&mut self) {
        let Some(stack) = self.stack.take() else {
            return;
        };
        if stack.is_empty() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // no runtime: the stack's own `Drop` runs and reports
        };
        let deadline = match &self.timer {
            Some(timer) => timer.deadline(),
            None => Instant::now() + self.grace,
        };
        runtime.spawn(finish_detached(stack, deadline));
    }
}

/// The rest of a shielded close, on a task of its own: its errors and panic are reported.
async fn finish_detached(mut stack: SendAsyncExitStack<'static>, deadline: Instant) {
    let grace = deadline.saturating_duration_since(Instant::now());
    let mut timer = Box::pin(tokio::time::sleep_until(deadline));
    let closing = std::future::poll_fn(|cx| {
        let stack = &mut stack;
        let timer = timer.as_mut();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            stack.poll_within(cx, Some(timer), grace)
        }))
        .map_or_else(|payload| Poll::Ready(Err(payload)), |p| p.map(Ok))
    });
    match closing.await {
        Ok(Ok(())) => {}
        Ok(Err(errors)) => {
            if let Some(payload) = caught::report_and_drop(errors.into_vec(), ReportReason::Dropped)
            {
                caught::drop_payload(payload, None);
            }
        }
        Err(payload) => {
            caught::report_panic(ReportReason::Dropped, &*payload, None);
            caught::drop_payload(payload, None);
        }
    }
}

impl fmt::Debug for ShieldedClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShieldedClose")
            .field("grace", &self.grace)
            .field("finished", &self.stack.is_none())
            .finish_non_exhaustive()
    }
}
