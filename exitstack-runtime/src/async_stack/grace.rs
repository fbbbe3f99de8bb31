//! A stack-wide grace period: [`AsyncExitStack::aclose_within`] runs the unwind under one
//! deadline, then forces what is left (a two-phase entry's forceful phase; any other async
//! entry is dropped), keeping every error.

use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use super::close::{Closing, InFlight};
use super::errors::TimedOutError;
use super::stack::AsyncExitStack;
use super::two_phase::drop_in_flight;
use crate::arena::{Arena, Word};
use crate::caught::{self, Payload};
use crate::error::UnwindError;
use crate::report::ReportReason;
use crate::site::Site;
use crate::threading::Threading;
use crate::unwind::run_popped;

/// The timer of a grace period; `None` if making it panicked (then the grace is over at once).
pub(super) type GraceTimer<'t> = Option<Pin<&'t mut (dyn Future<Output = ()> + 't)>>;

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// Closes the stack within `grace`, measured by `sleep` (the runtime's timer, e.g.
    /// `tokio::time::sleep`): the unwind runs as in [`aclose`](Self::aclose) until every entry
    /// has run or the grace is over. Then, at once and without awaiting:
    /// - the async entry in flight is cut off with a [`TimedOutError`]: its future is dropped,
    ///   which runs a two-phase entry's forceful phase
    ///   ([`push_async_graceful`](Self::push_async_graceful));
    /// - every async entry not yet started gets a [`TimedOutError`] too, and is dropped without
    ///   running (a two-phase entry's forceful phase runs on its value);
    /// - sync entries still run, in order.
    ///
    /// Every error is returned, in order: the entries', the time-outs, the forceful phases'.
    /// The stack's per-entry [`with_time_limit`](Self::with_time_limit) still applies inside the
    /// grace. A timer that panics (when made or polled) ends the grace at once, and its panic
    /// is resumed at the end. Cancelled during the grace, the future leaves the unwind in the
    /// stack, as a cancelled `aclose` does.
    ///
    /// # Examples
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, TimedOutError};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let forced = AtomicUsize::new(0);
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_async_graceful(
    ///     "db",
    ///     async |_| tokio::time::sleep(Duration::from_secs(1)).await, // fits in the grace
    ///     |_| { forced.fetch_add(1, Ordering::SeqCst); },
    /// );
    /// stack.push_async_graceful(
    ///     "socket",
    ///     async |_| std::future::pending::<()>().await, // never finishes
    ///     |_| { forced.fetch_add(10, Ordering::SeqCst); },
    /// );
    /// let errors = stack.aclose_within(Duration::from_secs(3), tokio::time::sleep).await.unwrap_err();
    /// // The socket's graceful phase was cut off after 3s and forced; the db never started.
    /// assert_eq!(errors.len(), 2);
    /// assert!(errors.iter().all(|e| e.error().downcast_ref::<TimedOutError>().is_some()));
    /// assert_eq!(forced.load(Ordering::SeqCst), 11);
    /// # });
    /// ```
    pub async fn aclose_within<F, Fut>(
        &mut self,
        grace: Duration,
        sleep: F,
    ) -> Result<(), UnwindError>
    where
        F: FnOnce(Duration) -> Fut,
        Fut: Future<Output = ()>,
    {
        let made = panic::catch_unwind(AssertUnwindSafe(|| sleep(grace)));
        let (timer, broken) = match made {
            Ok(timer) => (Some(timer), None),
            Err(payload) => (None, Some(payload)),
        };
        let mut timer = pin!(timer);
        let result = poll_fn(|cx| {
            let timer: GraceTimer<'_> = match timer.as_mut().as_pin_mut() {
                Some(timer) => Some(timer),
                None => None,
            };
            self.poll_within(cx, timer, grace)
        })
        .await;
        let Some(payload) = broken else {
            return result;
        };
        // The timer could not be made, so the grace was over at once; its panic goes on, and
        // the errors it would lose are reported.
        if let Err(errors) = result {
            let lost = caught::report_and_drop(errors.into_vec(), ReportReason::LostToPanic);
            if let Some(more) = lost {
                caught::drop_payload(more, None);
            }
        }
        panic::resume_unwind(payload)
    }

    /// Polls a close under a grace period: `Ready` once every entry has run, or once the timer
    /// has fired and what was left has been forced.
    pub(super) fn poll_within(
        &mut self,
        cx: &mut TaskContext<'_>,
        timer: GraceTimer<'_>,
        grace: Duration,
    ) -> Poll<Result<(), UnwindError>> {
        if self.closing.is_none() {
            if let Some(result) = self.close_until_async() {
                return Poll::Ready(result);
            }
        }
        if timer.is_some() && self.poll_unwind(cx, None).is_ready() {
            return Poll::Ready(self.finish_unwind(None).1);
        }
        let fired = match timer {
            None => Ok(Poll::Ready(())),
            Some(timer) => panic::catch_unwind(AssertUnwindSafe(|| timer.poll(cx))),
        };
        match fired {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(())) => self.expire(grace, None),
            Err(payload) => self.expire(grace, Some(payload)),
        }
        Poll::Ready(self.finish_unwind(None).1)
    }

    /// The grace is over: cuts off the entry in flight, runs the sync entries left and drops
    /// the async ones, each async one with a [`TimedOutError`].
    fn expire(&mut self, grace: Duration, timer_panic: Option<Payload>) {
        let (arena, stack) = (self.sync.arena(), self.sync.stack_ref());
        let closing = self.closing.as_mut().expect("an unwind is under way");
        let Closing { pending, in_flight } = &mut **closing;
        if let Some(payload) = timer_panic {
            pending.record_panic(payload, None);
        }
        if let Some(InFlight {
            future,
            site,
            deadline,
            ..
        }) = in_flight.take()
        {
            pending.record_error(Box::new(TimedOutError::new(grace)), site.0.duplicate());
            drop_in_flight(pending, (future, deadline), site.0);
        }
        while let Some(popped) = arena.pop() {
            if popped.vtable.start_async.is_none() {
                // SAFETY: the entry was just popped: its body is run exactly once, here.
                unsafe { run_popped(arena, stack, pending, None, popped) };
                continue;
            }
            let site: Site = popped.site;
            pending.record_error(Box::new(TimedOutError::new(grace)), site.duplicate());
            let unstarted = Unstarted {
                discard: popped.vtable.discard,
                body: popped.body,
            };
            drop_in_flight(pending, unstarted, site);
        }
    }
}

/// A popped async entry's body that will not run: dropped (with whatever its `Drop` does, a
/// two-phase entry's forceful phase) when this is dropped.
struct Unstarted {
    discard: unsafe fn(*mut Word) -> Option<Box<Arena>>,
    body: *mut Word,
}

impl Drop for Unstarted {
    fn drop(&mut self) {
        // SAFETY: made only in `expire` from an entry just popped, whose body nothing else
        // reads or drops; `Unstarted` is dropped once, so the body is dropped exactly once.
        // An async body is never a nested stack, so no arena comes back (dropped if one did).
        drop(unsafe { (self.discard)(self.body) });
    }
}
