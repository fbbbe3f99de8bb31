//! Closing an [`AsyncExitStack`]: the async unwind loop, the [`Aclose`] future, what a
//! cancelled close leaves behind, and `Drop`.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::entry::{start_future, EntryFuture, Flowed, SendSite};
use super::errors::NotRunError;
use super::limit::{Deadline, Spawner, TimeLimit};
use super::stack::AsyncExitStack;
use super::two_phase::drop_in_flight;
use crate::arena::{Arena, Passed, Popped, StackRef, StartAsync};
use crate::caught::{drop_caught, Payload};
use crate::ending::{Ending, Flow};
use crate::error::{CleanupError, UnwindError};
use crate::exit::Exit;
use crate::pending::Pending;
use crate::report::{self, ReportReason};
use crate::site::Site;
use crate::stack::dropped_ending;
use crate::threading::Threading;
use crate::unwind::{run_passed, run_popped};

/// The state of an unwind that has started and not finished. It lives in the stack, not in the
/// `aclose` future, so cancelling that future loses nothing.
pub(crate) struct Closing<'a, S> {
    pub(super) pending: Pending,
    /// The async entry being awaited.
    pub(super) in_flight: Option<InFlight<'a, S>>,
}

/// An async entry taken off the stack, whose future has not finished.
pub(super) struct InFlight<'a, S> {
    pub(super) future: EntryFuture<'a, S>,
    pub(super) site: SendSite,
    pub(super) deadline: Option<Deadline<'a, S>>,
    /// Timing the entry from the building of its future (feature `tracing`).
    #[cfg(feature = "tracing")]
    pub(super) timer: Option<crate::trace::Timer>,
    /// Whether the deadline, not the entry, finished it.
    #[cfg(feature = "tracing")]
    pub(super) timed_out: bool,
}

impl<'a, S> InFlight<'a, S> {
    /// Polls the entry (and its deadline); a panic comes back as `Err`.
    fn poll(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Flowed, Payload>> {
        let polled = panic::catch_unwind(AssertUnwindSafe(|| {
            if let Poll::Ready(flowed) = Pin::new(&mut self.future).poll(cx) {
                return Poll::Ready(flowed);
            }
            match &mut self.deadline {
                Some(deadline) => {
                    let expired = deadline.poll_expired(cx);
                    #[cfg(feature = "tracing")]
                    {
                        self.timed_out = expired.is_ready();
                    }
                    expired.map(Err)
                }
                None => Poll::Pending,
            }
        }));
        match polled {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(flowed)) => Poll::Ready(Ok(flowed)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// Records a finished async entry.
fn record_flowed(pending: &mut Pending, result: Result<Flowed, Payload>, site: Site) {
    match result {
        Ok(Ok(Flow::Suppress)) => pending.suppress(site),
        Ok(Ok(Flow::Propagate)) => {}
        Ok(Err(error)) => pending.record_error(error, site),
        Err(payload) => pending.record_panic(payload, Some(&site)),
    }
}

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// Starts the unwind at the end of a scope. If the body left a cancelled `aclose` behind,
    /// that unwind continues with the scope's ending; the earlier panic, if any, stays first.
    pub(super) fn begin_scope_unwind(
        &mut self,
        ending: Ending,
        scope_error: bool,
        panic: Option<Payload>,
    ) {
        match self.closing.as_mut() {
            None => {
                self.closing = Some(Box::new(Closing {
                    pending: Pending::for_scope(ending, scope_error, panic),
                    in_flight: None,
                }));
            }
            Some(closing) => closing.pending.restart_scope(ending, scope_error, panic),
        }
    }

    /// Drives the unwind until every entry has run (`Ready`) or an async entry is pending.
    pub(super) fn poll_unwind(
        &mut self,
        cx: &mut TaskContext<'_>,
        scope_error: Option<&(dyn Error + 'static)>,
    ) -> Poll<()> {
        let Some(closing) = self.closing.as_mut() else {
            return Poll::Ready(());
        };

        let (arena, stack) = (self.sync.arena(), self.sync.stack_ref());
        drive(closing, arena, stack, self.limit.as_ref(), cx, scope_error)
    }

    /// Ends a finished unwind: resumes the first panic, or returns the errors (and whether the
    /// scope's error was suppressed). The scope's error, if still pending, is reported when a
    /// panic is resumed.
    pub(super) fn finish_unwind(
        &mut self,
        scope_error: Option<&(dyn Error + 'static)>,
    ) -> (bool, Result<(), UnwindError>) {
        let Some(closing) = self.closing.take() else {
            return (false, Ok(()));
        };
        let Closing { pending, .. } = *closing;
        (pending.suppressed(), pending.finish(scope_error))
    }

    /// Runs every entry, newest first, awaiting async ones, and returns every error in order.
    /// The stack is left empty and usable. The first panic of an entry is resumed once every
    /// entry has run (as for [`ExitStack::close`](crate::ExitStack::close)).
    ///
    /// **Cancellation**: if the returned future is dropped before it finishes, the async entry
    /// in flight is kept in the stack with the errors so far; the next `aclose` resumes it and
    /// runs the rest, each exactly once. If the stack is dropped instead, see its `Drop`.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let runs = AtomicUsize::new(0);
    /// let mut stack = AsyncExitStack::new();
    /// stack.push_async_callback(|| async { runs.fetch_add(1, Ordering::SeqCst); });
    /// stack.push_async_callback(|| async {
    ///     tokio::time::sleep(Duration::from_millis(500)).await;
    ///     runs.fetch_add(1, Ordering::SeqCst);
    /// });
    /// // Cut off while the slow entry is in flight ...
    /// assert!(tokio::time::timeout(Duration::from_millis(5), stack.aclose()).await.is_err());
    /// assert_eq!(runs.load(Ordering::SeqCst), 0);
    /// // ... and resumed: the slow entry finishes, then the other runs. Each ran once.
    /// stack.aclose().await.unwrap();
    /// assert_eq!(runs.load(Ordering::SeqCst), 2);
    /// # });
    /// ```
    pub fn aclose(&mut self) -> Aclose<'_, 'a, S> {
        Aclose { stack: self }
    }
}

/// The inner loop of `poll_unwind`.
fn drive<'a, S: Threading>(
    closing: &mut Closing<'a, S>,
    arena: &Arena,
    stack: StackRef,
    limit: Option<&TimeLimit<'a, S>>,
    cx: &mut TaskContext<'_>,
    scope_error: Option<&(dyn Error + 'static)>,
) -> Poll<()> {
    let Closing { pending, in_flight } = closing;
    loop {
        if let Some(flight) = in_flight.as_mut() {
            let result = match flight.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            };
            let InFlight {
                future,
                site,
                deadline,
                #[cfg(feature = "tracing")]
                timer,
                #[cfg(feature = "tracing")]
                timed_out,
            } = in_flight.take().expect("polled just above");
            // Traced before the future is dropped (a panic of that drop is recorded, not traced).
            #[cfg(feature = "tracing")]
            trace_finished(timer, timed_out, &site.0, &result, None);
            record_flowed(pending, result, site.0.duplicate());
            // A timed-out future is dropped here, before the next entry runs; what its drop
            // hands to `error_in_drop` (a two-phase entry's forceful phase) is kept after it.
            drop_in_flight(pending, (future, deadline), site.0);
        }
        let Some((popped, start)) = run_until_async(arena, stack, pending, scope_error) else {
            return Poll::Ready(());
        };
        *in_flight = start_entry(pending, popped, start, limit, scope_error);
    }
}

/// Traces an async entry that finished (feature `tracing`): a panic (of the future, or of its
/// drop) first, then a time-out, then what the future returned.
#[cfg(feature = "tracing")]
fn trace_finished(
    timer: Option<crate::trace::Timer>,
    timed_out: bool,
    site: &Site,
    result: &Result<Flowed, Payload>,
    drop_panic: Option<&(dyn std::any::Any + Send)>,
) {
    use crate::trace::Outcome;
    let outcome = match (result, drop_panic) {
        (Err(payload), _) => Outcome::Panicked(&**payload),
        (_, Some(payload)) => Outcome::Panicked(payload),
        (Ok(Err(error)), None) if timed_out => Outcome::TimedOut(&**error),
        (Ok(Err(error)), None) => Outcome::Failed(&**error),
        (Ok(Ok(Flow::Suppress)), None) => Outcome::Suppressed,
        (Ok(Ok(Flow::Propagate)), None) => Outcome::Ok,
    };
    crate::trace::async_ran(timer, site, outcome);
}

/// Runs sync entries until an async one comes off the top (returned, not started) or the
/// arena is empty. A sync entry here costs what it costs in the sync loop.
#[inline]
fn run_until_async(
    arena: &Arena,
    stack: StackRef,
    pending: &mut Pending,
    scope_error: Option<&(dyn Error + 'static)>,
) -> Option<(Popped, StartAsync)> {
    let passed = Passed { scope_error, stack };
    loop {
        let popped = arena.pop()?;
        match popped.vtable.start_async {
            // SAFETY: the entry was just popped: its body is run exactly once, here.
            None => unsafe { run_passed(arena, pending, &passed, popped) },
            Some(start) => return Some((popped, start)),
        }
    }
}

/// Builds a popped async entry's future and starts its deadline; `None` (recorded) if building
/// it panicked.
#[cold]
#[inline(never)]
fn start_entry<'a, S: Threading>(
    pending: &mut Pending,
    popped: Popped,
    start: StartAsync,
    limit: Option<&TimeLimit<'a, S>>,
    scope_error: Option<&(dyn Error + 'static)>,
) -> Option<InFlight<'a, S>> {
    #[cfg(feature = "tracing")]
    let timer = crate::trace::start(pending.ending());
    let exit = Exit::view(pending, scope_error);
    // SAFETY: the entry was popped, so its body is moved out exactly once, here; it was pushed
    // on this stack, of mode `S` and lifetime `'a`.
    let started = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
        start_future::<S>(start, popped.body, &exit)
    }));
    let future = match started {
        Ok(future) => future,
        Err(payload) => {
            #[cfg(feature = "tracing")]
            crate::trace::async_ran(
                timer,
                &popped.site,
                crate::trace::Outcome::Panicked(&*payload),
            );
            pending.record_panic(payload, Some(&popped.site));
            return None;
        }
    };
    // A timer that panics when started is recorded like any panic, and the entry still runs,
    // without a time limit: dropping it unpolled would lose the cleanup.
    let deadline = match panic::catch_unwind(AssertUnwindSafe(|| limit.map(TimeLimit::start))) {
        Ok(deadline) => deadline,
        Err(payload) => {
            pending.record_panic(payload, Some(&popped.site));
            None
        }
    };
    Some(InFlight {
        future,
        site: SendSite(popped.site),
        deadline,
        #[cfg(feature = "tracing")]
        timer,
        #[cfg(feature = "tracing")]
        timed_out: false,
    })
}

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// One poll of an `aclose`: continues the unwind under way (a cut-off `aclose`, or one
    /// begun with another ending by `begin_scope_unwind`), else starts one that succeeded.
    #[inline]
    pub(super) fn poll_close(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), UnwindError>> {
        if self.closing.is_none() {
            if let Some(result) = self.close_until_async() {
                return Poll::Ready(result);
            }
        }
        match self.poll_unwind(cx, None) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(self.finish_unwind(None).1),
        }
    }

    /// The start of an `aclose` with no unwind under way: sync entries run as in
    /// `ExitStack::close`, and the resumable state (`Closing`) is made only when an async entry
    /// is reached. Returns the result if no async entry was left.
    #[inline]
    pub(super) fn close_until_async(&mut self) -> Option<Result<(), UnwindError>> {
        let mut pending = Pending::new(Ending::Succeeded);
        let (arena, stack) = (self.sync.arena(), self.sync.stack_ref());
        let Some((popped, start)) = run_until_async(arena, stack, &mut pending, None) else {
            return Some(pending.finish(None));
        };
        let in_flight = start_entry(&mut pending, popped, start, self.limit.as_ref(), None);
        self.closing = Some(Box::new(Closing { pending, in_flight }));
        None
    }
}

/// The future of [`AsyncExitStack::aclose`]. Dropping it part-way loses nothing (see `aclose`).
///
/// ```
/// use exitstack::{Aclose, AsyncExitStack, Local};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut stack = AsyncExitStack::new();
/// stack.push_async_callback(|| async { Err("refused") });
/// let closing: Aclose<'_, '_, Local> = stack.aclose(); // nothing runs until awaited
/// assert_eq!(closing.await.unwrap_err().len(), 1);
/// assert!(stack.is_empty());
/// # });
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct Aclose<'s, 'a, S: Threading> {
    stack: &'s mut AsyncExitStack<'a, S>,
}

impl<S: Threading> Future for Aclose<'_, '_, S> {
    type Output = Result<(), UnwindError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        self.get_mut().stack.poll_close(cx)
    }
}

impl<S: Threading> fmt::Debug for Aclose<'_, '_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aclose").finish_non_exhaustive()
    }
}

/// Reports an async entry that will never run.
pub(crate) fn report_not_run(site: Site) {
    let (label, location) = site.into_parts();
    let mut error = CleanupError::new(NotRunError);
    error.set_site(label, location);
    report::deliver(ReportReason::AsyncNotRun, &error);
}

impl<S: Threading> Drop for AsyncExitStack<'_, S> {
    /// Runs the sync entries now; async entries (and one left in flight by a cancelled
    /// `aclose`) are reported as [`NotRunError`], or spawned with `spawn_on_drop`. Never blocks.
    #[inline]
    fn drop(&mut self) {
        if self.closing.is_some() || !self.sync.is_empty() {
            self.drop_slow();
        }
    }
}

impl<S: Threading> AsyncExitStack<'_, S> {
    /// `Drop` of a stack with entries left, or a cancelled `aclose` under way.
    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self) {
        let closing = self.closing.take();
        let spawner = self.spawner;
        let mut pending = match closing {
            Some(closing) => {
                let Closing {
                    mut pending,
                    in_flight,
                } = *closing;
                if pending.ending() == Ending::Succeeded {
                    pending.set_ending(dropped_ending());
                }
                if let Some(InFlight { future, site, .. }) = in_flight {
                    dispose(&mut pending, future, site, spawner);
                }
                pending
            }
            None => Pending::new(dropped_ending()),
        };
        let (arena, stack) = (self.sync.arena(), self.sync.stack_ref());
        loop {
            let Some(popped) = arena.pop() else { break };
            let Some(start) = popped.vtable.start_async else {
                // SAFETY: as in `drive`.
                unsafe { run_popped(arena, stack, &mut pending, None, popped) };
                continue;
            };
            let released = match spawner {
                Some(_) => {
                    let exit = Exit::view(&pending, None);
                    // SAFETY: as in `drive`.
                    let started = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                        start_future::<S>(start, popped.body, &exit)
                    }));
                    started.map(|future| {
                        let site = SendSite(popped.site.duplicate());
                        dispose(&mut pending, future, site, spawner);
                    })
                }
                None => {
                    let discard = popped.vtable.discard;
                    // SAFETY: the entry was popped, so its body is dropped exactly once, here.
                    let dropped =
                        panic::catch_unwind(AssertUnwindSafe(|| unsafe { discard(popped.body) }));
                    report_not_run(popped.site.duplicate());
                    dropped.map(drop)
                }
            };
            if let Err(payload) = released {
                pending.record_panic(payload, Some(&popped.site));
            }
        }
        pending.finish_unobserved();
    }
}

/// Hands an async entry's future that will not be awaited here to the spawner, or drops it and
/// reports it.
fn dispose<'a, S>(
    pending: &mut Pending,
    future: EntryFuture<'a, S>,
    site: SendSite,
    spawner: Option<Spawner<'a, S>>,
) {
    let back = match spawner {
        Some(spawn) => spawn(future, site),
        None => Err((future, site)),
    };
    if let Err((future, site)) = back {
        if let Some(payload) = drop_caught(future) {
            pending.record_panic(payload, Some(&site.0));
        }
        report_not_run(site.0);
    }
}
