//! Closing an [`AsyncExitStack`]: the async unwind loop, the [`Aclose`] future, what a
//! cancelled close leaves behind, and `Drop`.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use super::entry::{start_future, EntryFuture, Flowed, SendSite};
use super::errors::NotRunError;
use super::limit::Deadline;
use super::stack::AsyncExitStack;
use crate::error::{CleanupError, UnwindError};
use crate::exit::Ending;
use crate::report::{self, ReportReason};
use crate::site::Site;
use crate::threading::Threading;
use crate::unwind::{Step, Unwind};

/// The state of an unwind that has started and not finished. It lives in the stack, not in the
/// `aclose` future, so cancelling that future loses nothing.
pub(crate) struct Closing<'a, S> {
    ending: Ending,
    errors: Vec<CleanupError>,
    panic: Option<Box<dyn Any + Send>>,
    /// Whether the scope's own error (passed in on each poll) has not been suppressed yet.
    scope_error_pending: bool,
    scope_suppressed: bool,
    /// The async entry being awaited.
    in_flight: Option<InFlight<'a, S>>,
}

/// An async entry taken off the stack, whose future has not finished.
struct InFlight<'a, S> {
    future: EntryFuture<'a, S>,
    site: SendSite,
    deadline: Option<Deadline<'a, S>>,
}

impl<'a, S> InFlight<'a, S> {
    /// Polls the entry (and its deadline); a panic comes back as `Err`.
    fn poll(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Flowed, Box<dyn Any + Send>>> {
        let polled = panic::catch_unwind(AssertUnwindSafe(|| {
            if let Poll::Ready(flowed) = Pin::new(&mut self.future).poll(cx) {
                return Poll::Ready(flowed);
            }
            match &mut self.deadline {
                Some(deadline) => deadline.poll_expired(cx).map(Err),
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

/// Drops `value`, catching a panic from its destructor.
fn drop_caught<T>(value: T) -> Option<Box<dyn Any + Send>> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(value))).err()
}

impl<'a, S: Threading> Closing<'a, S> {
    fn new(ending: Ending) -> Self {
        Closing {
            ending,
            errors: Vec::new(),
            panic: None,
            scope_error_pending: false,
            scope_suppressed: false,
            in_flight: None,
        }
    }

    /// Moves the pending state into a fresh unwind.
    fn lend<'u>(
        &mut self,
        unwind: &mut Unwind<'u>,
        scope_error: Option<&'u (dyn Error + 'static)>,
    ) {
        unwind.errors = std::mem::take(&mut self.errors);
        unwind.panic = self.panic.take();
        unwind.scope_suppressed = self.scope_suppressed;
        unwind.scope_error = scope_error.filter(|_| self.scope_error_pending);
    }

    /// Takes the pending state back from the unwind.
    fn take_back(&mut self, unwind: &mut Unwind<'_>) {
        self.errors = std::mem::take(&mut unwind.errors);
        self.panic = unwind.panic.take();
        self.scope_suppressed = unwind.scope_suppressed;
        self.scope_error_pending = unwind.scope_error.is_some();
        self.ending = unwind.ending; // a suppressed scope error turns `Failed` into `Closed`
    }
}

/// Records a finished async entry in the unwind.
fn record_flowed(unwind: &mut Unwind<'_>, result: Result<Flowed, Box<dyn Any + Send>>, site: Site) {
    match result {
        Ok(Ok(flow)) => unwind.record(flow.into(), site),
        Ok(Err(error)) => unwind.record(Step::Failed(error), site),
        Err(payload) => unwind.record_panic(payload, site),
    }
}

impl<'a, S: Threading> AsyncExitStack<'a, S> {
    /// Starts an unwind with `ending`, unless one is already under way (a cancelled `aclose`),
    /// which is then resumed.
    pub(super) fn begin_unwind(
        &mut self,
        ending: Ending,
        scope_error: bool,
        panic: Option<Box<dyn Any + Send>>,
    ) {
        if self.closing.is_none() {
            let mut closing = Closing::new(ending);
            closing.scope_error_pending = scope_error;
            closing.panic = panic;
            self.closing = Some(closing);
        }
    }

    /// Starts the unwind at the end of a scope. If the body left a cancelled `aclose` behind,
    /// that unwind continues with the scope's ending; the earlier panic, if any, stays first.
    pub(super) fn begin_scope_unwind(
        &mut self,
        ending: Ending,
        scope_error: bool,
        panic: Option<Box<dyn Any + Send>>,
    ) {
        match self.closing.as_mut() {
            None => self.begin_unwind(ending, scope_error, panic),
            Some(closing) => {
                closing.ending = ending;
                closing.scope_error_pending = scope_error;
                if closing.panic.is_none() {
                    closing.panic = panic;
                } else if let Some(payload) = panic {
                    let error = CleanupError::from_panic(&*payload);
                    report::deliver(ReportReason::PanicDuringPanic, &error);
                }
            }
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
        let mut unwind = self.sync.unwind_for_scope(closing.ending);
        closing.lend(&mut unwind, scope_error);
        let polled = drive(closing, &mut unwind, self.limit.as_ref(), cx);
        closing.take_back(&mut unwind);
        polled
    }

    /// Ends a finished unwind: resumes the first panic, or returns the errors (and whether the
    /// scope's error was suppressed). The scope's error, if still pending, is reported when a
    /// panic is resumed (found by tests/tests/model_async.rs).
    pub(super) fn finish_unwind(
        &mut self,
        scope_error: Option<&(dyn Error + 'static)>,
    ) -> (bool, Result<(), UnwindError>) {
        let Some(mut closing) = self.closing.take() else {
            return (false, Ok(()));
        };
        let mut unwind = self.sync.unwind_for_scope(closing.ending);
        closing.lend(&mut unwind, scope_error);
        let suppressed = unwind.scope_suppressed;
        (suppressed, unwind.finish())
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
    unwind: &mut Unwind<'_>,
    limit: Option<&super::limit::TimeLimit<'a, S>>,
    cx: &mut TaskContext<'_>,
) -> Poll<()> {
    loop {
        if let Some(in_flight) = closing.in_flight.as_mut() {
            let result = match in_flight.poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => result,
            };
            let InFlight {
                future,
                site,
                deadline,
            } = closing.in_flight.take().expect("polled just above");
            // A timed-out future is dropped here, before the next entry runs.
            if let Some(payload) = drop_caught((future, deadline)) {
                unwind.record_panic(payload, site.0.duplicate());
            }
            record_flowed(unwind, result, site.0);
        }
        // Sync entries run in this inner loop, which leaves only for an async entry (so a sync
        // entry costs what it costs in the sync loop).
        let (popped, start) = loop {
            // SAFETY: the `&mut Arena` lives only for this call and no user code runs in it
            // (the same discipline as `Unwind::run_all`).
            let popped = unsafe { (*unwind.arena.get()).pop() };
            let Some(popped) = popped else {
                return Poll::Ready(());
            };
            match popped.vtable.start_async {
                // SAFETY: the entry was just popped: its body is run exactly once, here.
                None => unsafe { unwind.run_popped(popped) },
                Some(start) => break (popped, start),
            }
        };
        let exit = &unwind.exit();
        // SAFETY: the entry was popped, so its body is moved out exactly once, here; it was
        // pushed on this stack, of mode `S` and lifetime `'a`.
        let started = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
            start_future::<S>(start, popped.body, exit)
        }));
        let future = match started {
            Ok(future) => future,
            Err(payload) => {
                unwind.record_panic(payload, popped.site);
                continue;
            }
        };
        match panic::catch_unwind(AssertUnwindSafe(|| limit.map(|limit| limit.start()))) {
            Ok(deadline) => {
                closing.in_flight = Some(InFlight {
                    future,
                    site: SendSite(popped.site),
                    deadline,
                });
            }
            Err(payload) => {
                if let Some(more) = drop_caught(future) {
                    unwind.record_panic(more, popped.site.duplicate());
                }
                unwind.record_panic(payload, popped.site);
            }
        }
    }
}

/// The future of [`AsyncExitStack::aclose`]. Dropping it part-way loses nothing (see `aclose`).
///
/// ```
/// use exitstack::{Aclose, AsyncExitStack, Local};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let mut stack = AsyncExitStack::new();
/// stack.try_push_async_callback(|| async { Err("refused") });
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

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let stack = &mut *self.get_mut().stack;
        stack.begin_unwind(Ending::Closed, false, None);
        match stack.poll_unwind(cx, None) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(()) => Poll::Ready(stack.finish_unwind(None).1),
        }
    }
}

impl<S: Threading> fmt::Debug for Aclose<'_, '_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Aclose").finish_non_exhaustive()
    }
}

/// Reports an async entry that will never run.
pub(super) fn report_not_run(site: Site) {
    let (label, location) = site.into_parts();
    let mut error = CleanupError::new(NotRunError);
    error.set_site(label, location);
    report::deliver(ReportReason::AsyncNotRun, &error);
}

impl<S: Threading> Drop for AsyncExitStack<'_, S> {
    /// Runs the sync entries now; async entries (and one left in flight by a cancelled
    /// `aclose`) are reported as [`NotRunError`], or spawned with `spawn_on_drop`. Never blocks.
    fn drop(&mut self) {
        let closing = self.closing.take();
        if closing.is_none() && self.sync.is_empty() {
            return;
        }
        let ending = match &closing {
            Some(closing) if closing.ending != Ending::Closed => closing.ending,
            _ if std::thread::panicking() && !self.born_panicking => Ending::Panicked,
            _ => Ending::Abandoned,
        };
        let spawner = self.spawner;
        let mut unwind = self.sync.unwind_for_scope(ending);
        if let Some(mut closing) = closing {
            let in_flight = closing.in_flight.take();
            closing.lend(&mut unwind, None);
            if let Some(InFlight { future, site, .. }) = in_flight {
                dispose(&mut unwind, future, site, spawner);
            }
        }
        loop {
            // SAFETY: as in `drive`.
            let popped = unsafe { (*unwind.arena.get()).pop() };
            let Some(popped) = popped else { break };
            let step = match (popped.vtable.start_async, spawner) {
                (None, _) => {
                    // SAFETY: as in `drive`.
                    unsafe { unwind.run_popped(popped) };
                    continue;
                }
                (Some(start), Some(_)) => {
                    let exit = &unwind.exit();
                    // SAFETY: as in `drive`.
                    let started = panic::catch_unwind(AssertUnwindSafe(|| unsafe {
                        start_future::<S>(start, popped.body, exit)
                    }));
                    started.map(|future| {
                        let site = SendSite(popped.site.duplicate());
                        dispose(&mut unwind, future, site, spawner);
                        Step::Done
                    })
                }
                (Some(_), None) => {
                    let discard = popped.vtable.discard;
                    // SAFETY: the entry was popped, so its body is dropped exactly once, here.
                    let dropped =
                        panic::catch_unwind(AssertUnwindSafe(|| unsafe { discard(popped.body) }));
                    report_not_run(popped.site.duplicate());
                    dropped.map(|()| Step::Done)
                }
            };
            match step {
                Ok(step) => unwind.record(step, popped.site),
                Err(payload) => unwind.record_panic(payload, popped.site),
            }
        }
        unwind.finish_unobserved();
    }
}

/// Hands an async entry's future that will not be awaited here to the spawner, or drops it and
/// reports it.
fn dispose<'a, S>(
    unwind: &mut Unwind<'_>,
    future: EntryFuture<'a, S>,
    site: SendSite,
    spawner: Option<super::limit::Spawner<'a, S>>,
) {
    let back = match spawner {
        Some(spawn) => spawn(future, site),
        None => Err((future, site)),
    };
    if let Err((future, site)) = back {
        if let Some(payload) = drop_caught(future) {
            unwind.record_panic(payload, site.0.duplicate());
        }
        report_not_run(site.0);
    }
}
