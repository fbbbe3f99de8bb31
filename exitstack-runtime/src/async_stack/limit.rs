//! Options of an [`AsyncExitStack`]: a per-entry time limit for async cleanups (with any
//! runtime's timer) and, with the `tokio` feature, spawning un-run async cleanups on drop.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use super::entry::{EntryFuture, SendSite};
use super::errors::TimedOutError;
use super::stack::AsyncExitStack;
use crate::error::BoxError;
use crate::threading::{Admits, Sendable, Threading};

type SleepFuture<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// A per-entry time limit and the timer that measures it.
pub(crate) struct TimeLimit<'a, S> {
    limit: Duration,
    sleep: Box<dyn Fn(Duration) -> SleepFuture<'a> + 'a>,
    _mode: PhantomData<fn() -> S>,
}

// SAFETY: `with_time_limit` requires `S: Admits<F> + Admits<Fut>`, so for `Sendable` both the
// timer function and the sleep futures it makes are `Send`.
unsafe impl Send for TimeLimit<'_, Sendable> {}

impl<'a, S> TimeLimit<'a, S> {
    /// The deadline of an entry starting now.
    pub(crate) fn start(&self) -> Deadline<'a, S> {
        Deadline {
            limit: self.limit,
            sleep: (self.sleep)(self.limit),
            _mode: PhantomData,
        }
    }
}

/// The running timer of one async entry.
pub(crate) struct Deadline<'a, S> {
    limit: Duration,
    sleep: SleepFuture<'a>,
    _mode: PhantomData<fn() -> S>,
}

// SAFETY: made only by `TimeLimit::start`, whose sleep futures are `Send` for `Sendable`.
unsafe impl Send for Deadline<'_, Sendable> {}

impl<S> Deadline<'_, S> {
    /// `Ready` with a [`TimedOutError`] error once the limit has passed.
    pub(crate) fn poll_expired(&mut self, cx: &mut TaskContext<'_>) -> Poll<BoxError> {
        self.sleep
            .as_mut()
            .poll(cx)
            .map(|()| Box::new(TimedOutError::new(self.limit)) as BoxError)
    }
}

/// Takes an un-run async entry's future on drop; gives it back if it cannot.
pub(crate) type Spawner<'a, S> =
    fn(EntryFuture<'a, S>, SendSite) -> Result<(), (EntryFuture<'a, S>, SendSite)>;

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// Limits each async cleanup to `limit`, measured by `sleep` (the runtime's timer, e.g.
    /// `tokio::time::sleep`; the crate depends on no runtime). A cleanup still running when the
    /// sleep finishes is dropped (cancelled) and fails with [`TimedOutError`]; the next entry runs.
    /// Sync entries are not limited.
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, TimedOutError};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let mut stack = AsyncExitStack::new().with_time_limit(Duration::from_millis(10), tokio::time::sleep);
    /// stack.push_async_callback(|| std::future::pending::<()>()); // never finishes
    /// let errors = stack.aclose().await.unwrap_err();
    /// assert!(errors.first().error().downcast_ref::<TimedOutError>().is_some());
    /// # });
    /// ```
    #[must_use]
    pub fn with_time_limit<F, Fut>(mut self, limit: Duration, sleep: F) -> Self
    where
        F: Fn(Duration) -> Fut + 'a,
        Fut: Future<Output = ()> + 'a,
        S: Admits<F> + Admits<Fut>,
    {
        self.limit = Some(TimeLimit {
            limit,
            sleep: Box::new(move |limit| Box::pin(sleep(limit))),
            _mode: PhantomData,
        });
        self
    }
}

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
impl AsyncExitStack<'static, Sendable> {
    /// On drop without `aclose`, spawns each un-run async cleanup (and one left in flight by a
    /// cancelled `aclose`) on the current tokio runtime instead of reporting it (feature
    /// `tokio`; needs a `'static`, `Send` stack). Sync entries still run in `drop`. Outside a
    /// runtime, they are reported as usual. Errors of the spawned cleanups go to the
    /// [report channel](crate::report) (reason `Dropped`) from the runtime's thread.
    ///
    /// ```
    /// use exitstack::SendAsyncExitStack;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (done, finished) = tokio::sync::oneshot::channel();
    /// let stack = SendAsyncExitStack::new_send().spawn_on_drop();
    /// stack.push_async_callback(move || async move { done.send(()).unwrap() });
    /// drop(stack); // no aclose: the cleanup is spawned, not lost
    /// finished.await.unwrap();
    /// # });
    /// ```
    #[must_use]
    pub fn spawn_on_drop(mut self) -> Self {
        self.spawner = Some(spawn_on_tokio);
        self
    }
}

#[cfg(feature = "tokio")]
fn spawn_on_tokio(
    future: EntryFuture<'static, Sendable>,
    site: SendSite,
) -> Result<(), (EntryFuture<'static, Sendable>, SendSite)> {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return Err((future, site));
    };
    runtime.spawn(async move {
        let site = site; // capture the `Send` wrapper, not its field
        if let Err(error) = future.await {
            // Each leaf on its own (a group's, a nested stack's), as `aclose` would return them.
            for error in crate::error_tree::flatten(error, site.0) {
                crate::report::deliver(crate::report::ReportReason::Dropped, &error);
            }
        }
    });
    Ok(())
}

#[cfg(all(test, feature = "tokio"))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use crate::report::{self, Report, ReportReason};
    use crate::SendAsyncExitStack;

    #[tokio::test(flavor = "multi_thread")]
    async fn spawn_on_drop_finishes_the_in_flight_entry_and_the_rest() {
        let runs = Arc::new(AtomicUsize::new(0));
        let (done, finished) = tokio::sync::oneshot::channel();
        let mut stack = SendAsyncExitStack::new_send().spawn_on_drop();
        stack.push_async_callback(move || async move { done.send(()).unwrap() });
        let r = runs.clone();
        stack.callback(move || {
            r.fetch_add(1, Ordering::SeqCst);
        });
        let r = runs.clone();
        let (slow_done, slow_finished) = tokio::sync::oneshot::channel();
        stack.push_async_callback(move || async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            r.fetch_add(10, Ordering::SeqCst);
            slow_done.send(()).unwrap();
        });
        let cut = tokio::time::timeout(Duration::from_millis(10), stack.aclose()).await;
        assert!(cut.is_err());
        drop(stack); // the in-flight sleep and the first entry are spawned; the sync one runs
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        finished.await.unwrap();
        slow_finished.await.unwrap();
        assert_eq!(
            runs.load(Ordering::SeqCst),
            11,
            "the in-flight entry finished once"
        );
    }

    #[test]
    fn outside_a_runtime_spawn_on_drop_reports() {
        let reasons = Arc::new(Mutex::new(Vec::new()));
        let sink = reasons.clone();
        report::with_reporter(
            move |r: &Report<'_>| sink.lock().unwrap().push(r.reason()),
            || {
                let stack = SendAsyncExitStack::new_send().spawn_on_drop();
                stack.push_async_callback(|| async {});
                drop(stack);
            },
        );
        assert_eq!(*reasons.lock().unwrap(), [ReportReason::AsyncNotRun]);
    }
}
