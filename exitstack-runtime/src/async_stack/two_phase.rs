//! Two-phase release: an async graceful phase that borrows the value, and a sync forceful phase
//! that takes it when the graceful one did not finish ([`AsyncExitStack::push_async_graceful`]).
//!
//! The value lives in the entry future (`Armed`), so the graceful future may borrow it across
//! awaits without `unsafe`. Whoever ends that future early (a time limit, a grace period that
//! ran out, a dropped stack) drops it, and `Armed`'s `Drop` runs the forceful phase on the
//! value, handing its error to [`report::error_in_drop`], which the async loop collects into
//! the result (or, in a plain drop, reports).

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr;

use super::entry::{AsyncBody, Flowed};
use super::handle::AsyncEntered;
use super::phase::{Phase, PhaseError};
use super::scope::catch_panic;
use super::stack::AsyncExitStack;
use crate::caught::{self, Payload};
use crate::ending::Flow;
use crate::entry::Holds;
use crate::error::{BoxError, CleanupError, UnwindError};
use crate::exit::Exit;
use crate::output::CleanupOutput;
use crate::pending::Pending;
use crate::report::{self, ReportReason};
use crate::site::Site;
use crate::threading::{Local, Sendable};

/// The future a [`push_async_graceful_send`](AsyncExitStack::push_async_graceful_send)
/// graceful phase returns: boxed, `Send`, and free to borrow the value for `'v`.
pub type GracefulFuture<'v, R> = Pin<Box<dyn Future<Output = R> + Send + 'v>>;

/// The body of a two-phase entry, and (moved into its future) the value's keeper: dropped while
/// it still holds the value and the forceful phase, it runs that phase.
pub(crate) struct Armed<T, G, F: Forceful<T>> {
    value: Option<T>,
    graceful: Option<G>,
    forceful: Option<F>,
}

/// A forceful phase: any `FnOnce(T)` returning `()` or a `Result`.
pub(crate) trait Forceful<T> {
    fn force(self, value: T) -> Result<(), BoxError>;
}

impl<T, F, R> Forceful<T> for F
where
    F: FnOnce(T) -> R,
    R: CleanupOutput,
{
    fn force(self, value: T) -> Result<(), BoxError> {
        self(value).into_result()
    }
}

/// The graceful phase of a [`Local`] stack: any async closure.
pub(crate) struct LocalGraceful<G>(G);

/// The graceful phase of a [`Sendable`] stack: a closure returning a [`GracefulFuture`].
pub(crate) struct SendGraceful<G>(G);

impl<T, G, F: Forceful<T>> Armed<T, G, F> {
    fn value_mut(&mut self) -> &mut T {
        self.value
            .as_mut()
            .expect("the value stays until a phase takes it")
    }

    /// Ends the entry once the graceful future finished (or panicked, caught): the value is
    /// dropped if it succeeded, else the forceful phase takes it.
    fn finish(mut self, graceful: Result<Result<(), BoxError>, Payload>) -> Flowed {
        let value = self
            .value
            .take()
            .expect("the value stays until a phase takes it");
        let forceful = self
            .forceful
            .take()
            .expect("the forceful phase runs at most once");
        let graceful_error = match graceful {
            Ok(Ok(())) => {
                drop(forceful);
                return report::drop_collecting(value)
                    .map(|()| Flow::Propagate)
                    .map_err(Into::into);
            }
            Ok(Err(error)) => error,
            Err(payload) => return forceful_after_panic(forceful, value, payload),
        };
        let graceful_error = CleanupError::new(PhaseError::new(Phase::Graceful, graceful_error));
        match panic::catch_unwind(AssertUnwindSafe(|| forceful.force(value))) {
            Ok(Ok(())) => Err(Box::new(graceful_error)),
            Ok(Err(error)) => {
                let forceful_error = CleanupError::new(PhaseError::new(Phase::Forceful, error));
                let both = UnwindError::from_errors(vec![graceful_error, forceful_error]);
                Err(Box::new(both.expect("two errors")))
            }
            Err(payload) => {
                // The forceful phase's panic goes on; the graceful error would be lost with it.
                report::deliver(ReportReason::LostToPanic, &graceful_error);
                panic::resume_unwind(payload)
            }
        }
    }
}

/// The graceful future panicked: the forceful phase takes the value, then the graceful panic
/// goes on (the entry's panic). What the forceful phase adds (an error, a second panic) is
/// reported: a panic being resumed takes the errors pending with it to the report channel.
fn forceful_after_panic<T, F: Forceful<T>>(forceful: F, value: T, payload: Payload) -> Flowed {
    match panic::catch_unwind(AssertUnwindSafe(|| forceful.force(value))) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            let error = CleanupError::new(PhaseError::new(Phase::Forceful, error));
            report::deliver(ReportReason::LostToPanic, &error);
        }
        Err(second) => {
            caught::report_panic(ReportReason::PanicDuringPanic, &*second, None);
            caught::drop_payload(second, None);
        }
    }
    panic::resume_unwind(payload)
}

impl<T, G, F: Forceful<T>> Drop for Armed<T, G, F> {
    /// Dropped with the value still in it: the graceful phase never finished (its future was
    /// dropped, or the entry was never started). The forceful phase runs now; its error goes to
    /// [`report::error_in_drop`] (collected by the async loop, else reported), its panic goes on
    /// (or is reported if the thread is already panicking: a panic in `Drop` then would abort).
    fn drop(&mut self) {
        let (Some(value), Some(forceful)) = (self.value.take(), self.forceful.take()) else {
            return;
        };
        match panic::catch_unwind(AssertUnwindSafe(|| forceful.force(value))) {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                let error = PhaseError::new(Phase::Forceful, error);
                report::error_in_drop(CleanupError::new(error));
            }
            Err(payload) if std::thread::panicking() => {
                caught::report_panic(ReportReason::PanicDuringPanic, &*payload, None);
                caught::drop_payload(payload, None);
            }
            Err(payload) => panic::resume_unwind(payload),
        }
    }
}

impl<T, G, F: Forceful<T>> Holds for Armed<T, G, F> {
    type Value = T;
    /// The phases, without the value: dropping them runs neither.
    type Rest = Armed<T, G, F>;
    unsafe fn value(this: *mut Self) -> *mut T {
        // SAFETY: `this` points to a live body that no reference aliases yet (called once, as
        // the entry is pushed and before its handle exists); its value is `Some` until a phase
        // or `into_parts` takes it.
        let value = unsafe { (*this).value.as_mut() };
        ptr::from_mut(value.expect("a pushed two-phase entry holds its value"))
    }
    fn into_parts(mut self) -> (T, Self) {
        let value = self.value.take().expect("the value stays until taken");
        (value, self)
    }
}

impl<'a, T, G, R, F> AsyncBody<'a> for Armed<T, LocalGraceful<G>, F>
where
    T: 'a,
    G: AsyncFnOnce(&mut T) -> R + 'a,
    R: CleanupOutput,
    F: Forceful<T> + 'a,
{
    fn start(mut self, _: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>> {
        let LocalGraceful(graceful) = self.graceful.take().expect("started once");
        Box::pin(async move {
            let mut armed = self;
            let outcome = catch_panic(graceful(armed.value_mut())).await;
            armed.finish(outcome.map(CleanupOutput::into_result))
        })
    }
}

impl<'a, T, G, R, F> AsyncBody<'a> for Armed<T, SendGraceful<G>, F>
where
    T: Send + 'a,
    G: for<'v> FnOnce(&'v mut T) -> GracefulFuture<'v, R> + Send + 'a,
    R: CleanupOutput,
    F: Forceful<T> + Send + 'a,
{
    fn start(mut self, _: &Exit<'_>) -> Pin<Box<dyn Future<Output = Flowed> + 'a>> {
        let SendGraceful(graceful) = self.graceful.take().expect("started once");
        // Typed `Send` here, so the compiler checks what the `Sendable` stack relies on.
        let future: Pin<Box<dyn Future<Output = Flowed> + Send + 'a>> = Box::pin(async move {
            let mut armed = self;
            let outcome = catch_panic(graceful(armed.value_mut())).await;
            armed.finish(outcome.map(CleanupOutput::into_result))
        });
        future
    }
}

impl<'a> AsyncExitStack<'a, Local> {
    /// Moves `value` into the stack with a two-phase release: when the stack closes, the
    /// async `graceful` phase runs with `&mut value` (a shutdown handshake, a flush, a drain);
    /// if it does not succeed, the sync `forceful` phase takes the value (an abort, a reset, a
    /// kill). Either phase returns `()` or a `Result`.
    ///
    /// `forceful` runs **on the value** whenever `graceful` did not finish successfully:
    /// - it returned `Err` (both errors are kept, each a [`PhaseError`] naming its phase);
    /// - it panicked (`forceful` runs, then the panic goes on as the entry's);
    /// - it ran past the stack's [`with_time_limit`](Self::with_time_limit) or the grace of
    ///   [`aclose_within`](Self::aclose_within) (a [`TimedOutError`](crate::TimedOutError),
    ///   then the forceful phase's error, if any);
    /// - the stack was dropped without `aclose`, before or while `graceful` ran (then in `drop`;
    ///   its error goes to the [report channel](crate::report)).
    ///
    /// If `graceful` succeeds, the value is dropped and `forceful` is not called. A cancelled
    /// `aclose` does not end the graceful phase: the next `aclose` resumes it.
    ///
    /// Why `&mut T` and the stack keeps the value: the graceful future may borrow it (the
    /// usual `async fn shutdown(&mut self)` fits as it is), and whatever ends that future early
    /// still finds the value to force, without a lock or an `Arc` around it. On a
    /// [`SendAsyncExitStack`](crate::SendAsyncExitStack), use
    /// [`push_async_graceful_send`](AsyncExitStack::push_async_graceful_send).
    ///
    /// # Examples
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, TimedOutError};
    /// use std::sync::Mutex;
    /// use std::time::Duration;
    ///
    /// struct Conn { log: Vec<&'static str> }
    /// impl Conn {
    ///     async fn goodbye(&mut self) -> std::io::Result<()> {
    ///         self.log.push("goodbye sent");
    ///         std::future::pending().await // the peer never answers
    ///     }
    /// }
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
    /// let forced = Mutex::new(Vec::new());
    /// let mut stack = AsyncExitStack::new().with_time_limit(Duration::from_secs(5), tokio::time::sleep);
    /// let conn = stack.push_async_graceful(
    ///     Conn { log: Vec::new() },
    ///     async |conn: &mut Conn| conn.goodbye().await,
    ///     |conn: Conn| forced.lock().unwrap().extend(conn.log),
    /// );
    /// conn.into_mut().log.push("used");
    /// let errors = stack.aclose().await.unwrap_err();
    /// assert!(errors.first().error().downcast_ref::<TimedOutError>().is_some());
    /// assert_eq!(*forced.lock().unwrap(), ["used", "goodbye sent"]);
    /// # });
    /// ```
    #[track_caller]
    pub fn push_async_graceful<T, G, R, F, R2>(
        &self,
        value: T,
        graceful: G,
        forceful: F,
    ) -> AsyncEntered<'_, T, Local>
    where
        T: 'a,
        G: AsyncFnOnce(&mut T) -> R + 'a,
        R: CleanupOutput,
        F: FnOnce(T) -> R2 + 'a,
        R2: CleanupOutput,
    {
        self.push_async_holding(Armed {
            value: Some(value),
            graceful: Some(LocalGraceful(graceful)),
            forceful: Some(forceful),
        })
    }
}

impl<'a> AsyncExitStack<'a, Sendable> {
    /// [`push_async_graceful`](AsyncExitStack::push_async_graceful) on a
    /// [`SendAsyncExitStack`](crate::SendAsyncExitStack): the graceful phase returns a boxed
    /// `Send` future ([`GracefulFuture`]), which may borrow the value. Rust cannot yet require an
    /// async closure's future to be `Send`; the box states it (as for `scope_send`).
    ///
    /// ```
    /// use exitstack::{PhaseError, SendAsyncExitStack};
    ///
    /// # tokio::runtime::Builder::new_multi_thread().build().unwrap().block_on(async {
    /// let task = tokio::spawn(async {
    ///     let mut stack = SendAsyncExitStack::new_send();
    ///     stack.push_async_graceful_send(
    ///         vec![1u8, 2, 3],
    ///         |buffer: &mut Vec<u8>| Box::pin(async move {
    ///             tokio::task::yield_now().await;
    ///             buffer.clear();
    ///             Err::<(), _>("peer refused the last bytes")
    ///         }),
    ///         |buffer: Vec<u8>| assert!(buffer.is_empty()),
    ///     );
    ///     stack.aclose().await
    /// });
    /// let errors = task.await.unwrap().unwrap_err();
    /// let error = errors.first().error().downcast_ref::<PhaseError>().unwrap();
    /// assert_eq!(error.to_string(), "graceful release failed: peer refused the last bytes");
    /// # });
    /// ```
    #[track_caller]
    pub fn push_async_graceful_send<T, G, R, F, R2>(
        &self,
        value: T,
        graceful: G,
        forceful: F,
    ) -> AsyncEntered<'_, T, Sendable>
    where
        T: Send + 'a,
        G: for<'v> FnOnce(&'v mut T) -> GracefulFuture<'v, R> + Send + 'a,
        R: CleanupOutput,
        F: FnOnce(T) -> R2 + Send + 'a,
        R2: CleanupOutput,
    {
        self.push_async_holding(Armed {
            value: Some(value),
            graceful: Some(SendGraceful(graceful)),
            forceful: Some(forceful),
        })
    }
}

/// Drops an async entry's future (and its deadline) that will not be polled again, keeping
/// what its drop hands to [`report::error_in_drop`] (a two-phase entry's forceful phase) and
/// its panic.
pub(super) fn drop_in_flight<X>(pending: &mut Pending, future: X, site: Site) {
    match panic::catch_unwind(AssertUnwindSafe(|| report::drop_collecting(future))) {
        Ok(Ok(())) => {}
        Ok(Err(errors)) => pending.record_error(Box::new(errors), site),
        Err(payload) => pending.record_panic(payload, Some(&site)),
    }
}
