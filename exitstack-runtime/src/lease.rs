//! Shared leases: one value, held by several stacks (and plain [`Shared`] clones) at once, torn
//! down once, by whichever holder lets go last, in that holder's context.
//!
//! A [`Shared<T>`] is an `Arc` of the value and its teardown. Every lease is one strong count:
//! a `Shared` value, or an entry of a stack that holds one (`enter_shared`). Letting go of a
//! lease is `Arc::into_inner`, which hands the value back to exactly one caller, the one that
//! dropped the last count, even when several threads let go at once. That caller runs the
//! teardown where it is: a stack's unwind records its error (and its panic) like any entry's; a
//! plain `Shared` dropped outside any stack hands its error to [`report::error_in_drop`].
//!
//! No lock is ever held while user code runs: the teardown sits in a `Mutex` only so that the
//! shared cell is `Sync` without asking the teardown to be; the mutex is never locked, only
//! taken apart (`into_inner`) once the cell is owned again.

use std::fmt;
use std::future::Future;
use std::ops::Deref;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use crate::arena::{StackRef, Step};
use crate::async_stack::NotRunError;
use crate::caught;
use crate::ending::Ending;
use crate::entry::{step_of, Body, SyncStorage};
use crate::error::{BoxError, CleanupError};
use crate::exit::Exit;
use crate::handle::Handle;
use crate::output::CleanupOutput;
use crate::report::{self, ReportReason};
use crate::site::Site;
use crate::stack::{dropped_ending, ExitStack};
use crate::threading::{Admits, Threading};

/// The future of an async teardown, boxed.
pub(crate) type AsyncRelease = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

/// A teardown that sees the value and the `Exit` of whoever let the last lease go.
pub(crate) type TeardownFn<T, R> = Box<dyn FnOnce(T, &Exit<'_>) -> R + Send>;

/// A shared value's teardown, sync or async.
pub(crate) enum Teardown<T> {
    Sync(TeardownFn<T, Result<(), BoxError>>),
    Async(TeardownFn<T, AsyncRelease>),
}

/// The shared cell: the value, its teardown, and where it was shared (for errors).
struct Inner<T> {
    value: T,
    /// Never locked (see the module docs): `Mutex<X>` is `Sync` for any `X: Send`.
    teardown: Mutex<Teardown<T>>,
    location: &'static Location<'static>,
}

/// What the last lease gets back: the value, its teardown, and where it was shared.
pub(crate) struct Last<T> {
    pub(crate) value: T,
    pub(crate) teardown: Teardown<T>,
    pub(crate) location: &'static Location<'static>,
}

/// A value shared by several holders, torn down once, by the last one to let go.
///
/// Each `Shared` is a lease, and so is each stack entry made by
/// [`ExitStack::enter_shared`] (or [`share`](ExitStack::share), which makes the first one).
/// Cloning a `Shared` takes one more lease; dropping it, or unwinding a stack that holds one,
/// lets one go. The teardown runs when the last lease is let go, where that happens:
/// - in a stack's unwind (`close`, a scope, a drop, a handle's `release`): its error joins that
///   stack's result (or its report, for a dropped stack), its panic is that entry's panic;
/// - in the `Drop` of a plain `Shared`: its error goes to
///   [`report::error_in_drop`] (so it joins the result of a stack releasing the value that holds
///   the `Shared`, or else the report channel); its panic goes on, or is reported if the thread
///   is already panicking;
/// - in [`Shared::release`]: its error is returned.
///
/// The teardown takes the value and the [`Exit`] of whoever let the last lease go
/// (`FnOnce(T, &Exit) -> R`): in a stack's unwind, that stack's (its ending, what is pending);
/// let go by hand ([`release`](Shared::release)), an unwind that succeeded; dropped, one that was
/// abandoned (or panicked). Which holder is last is decided at run time, so read the `Exit` as
/// "how the last holder ended", not as the value's own history.
/// It must be `Send + 'static`, so that a `Shared` of a `Send + Sync` value can be let go on any
/// thread. An async teardown ([`Shared::new_async`],
/// [`AsyncExitStack::share_async`](crate::AsyncExitStack::share_async)) is awaited when the last lease is an async stack's
/// entry; let go anywhere else, the value is dropped and a [`NotRunError`] is returned or
/// reported instead.
///
/// `Shared<T>` derefs to `T` and is `Send` and `Sync` when `T` is both (as for `Arc<T>`).
///
/// # Examples
///
/// ```
/// use exitstack::ExitStack;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let closed = Arc::new(AtomicUsize::new(0));
/// let counter = closed.clone();
/// let mut first = ExitStack::new();
/// let mut second = ExitStack::new();
/// let pool = first.share(vec![1, 2, 3], move |pool, _| {
///     counter.fetch_add(1, Ordering::SeqCst);
///     Err::<(), _>(format!("closing a pool of {}", pool.len()))
/// });
/// second.enter_shared(pool.clone());
/// assert_eq!(pool.len(), 3); // derefs to the value
/// drop(pool); // not the last lease: nothing happens
/// assert!(first.close().is_ok()); // not the last either
/// let errors = second.close().unwrap_err(); // the last: the teardown runs here
/// assert_eq!(errors.first().error().to_string(), "closing a pool of 3");
/// assert_eq!(closed.load(Ordering::SeqCst), 1);
/// ```
pub struct Shared<T> {
    /// `None` only while the lease is being let go.
    inner: Option<Arc<Inner<T>>>,
}

impl<T> Shared<T> {
    /// A value with a sync teardown, held by this one lease so far; it is torn down when the
    /// last clone is let go.
    ///
    /// ```
    /// use exitstack::Shared;
    /// use std::sync::mpsc;
    ///
    /// let (sender, receiver) = mpsc::channel();
    /// let shared = Shared::new("socket", move |name, _| sender.send(name).unwrap());
    /// let other = shared.clone();
    /// drop(shared);
    /// assert!(receiver.try_recv().is_err()); // `other` still holds it
    /// drop(other);
    /// assert_eq!(receiver.try_recv(), Ok("socket"));
    /// ```
    #[track_caller]
    pub fn new<F, R>(value: T, teardown: F) -> Shared<T>
    where
        F: FnOnce(T, &Exit<'_>) -> R + Send + 'static,
        R: CleanupOutput,
    {
        let teardown = Box::new(move |value, exit: &Exit<'_>| teardown(value, exit).into_result());
        Shared::with_teardown(value, Teardown::Sync(teardown), Location::caller())
    }

    /// A value with an async teardown, awaited when the last lease is an async stack's entry
    /// (see [`AsyncExitStack::enter_shared`](crate::AsyncExitStack::enter_shared)).
    ///
    /// ```
    /// use exitstack::{AsyncExitStack, Shared};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let closed = Arc::new(AtomicBool::new(false));
    /// let flag = closed.clone();
    /// let shared = Shared::new_async(7, move |_, _| async move {
    ///     tokio::task::yield_now().await;
    ///     flag.store(true, Ordering::SeqCst);
    /// });
    /// let mut stack = AsyncExitStack::new();
    /// stack.enter_shared(shared); // the only lease now
    /// stack.aclose().await.unwrap();
    /// assert!(closed.load(Ordering::SeqCst));
    /// # });
    /// ```
    #[track_caller]
    pub fn new_async<F, Fut>(value: T, teardown: F) -> Shared<T>
    where
        F: FnOnce(T, &Exit<'_>) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: CleanupOutput,
    {
        let teardown = Box::new(move |value, exit: &Exit<'_>| -> AsyncRelease {
            let future = teardown(value, exit);
            Box::pin(async move { future.await.into_result() })
        });
        Shared::with_teardown(value, Teardown::Async(teardown), Location::caller())
    }

    fn with_teardown(
        value: T,
        teardown: Teardown<T>,
        location: &'static Location<'static>,
    ) -> Shared<T> {
        let inner = Inner {
            value,
            teardown: Mutex::new(teardown),
            location,
        };
        Shared {
            inner: Some(Arc::new(inner)),
        }
    }

    /// How many leases hold the value now (plain `Shared`s and stack entries). Another thread
    /// may change it at any time: for tests and diagnostics.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let stack = ExitStack::new();
    /// let shared = stack.share(1, |_, _| ());
    /// assert_eq!(shared.leases(), 2); // `shared` and the stack's entry
    /// ```
    pub fn leases(&self) -> usize {
        self.inner.as_ref().map_or(0, Arc::strong_count)
    }

    /// Lets go of this lease now. If it was the last one, the teardown runs here and its error
    /// is returned (an async teardown cannot run here: the value is dropped and the error is a
    /// [`NotRunError`]); a panic of the teardown goes on to the caller.
    ///
    /// ```
    /// use exitstack::Shared;
    ///
    /// let shared = Shared::new(5, |_, _| Err::<(), _>("refused"));
    /// let other = shared.clone();
    /// assert!(shared.release().is_ok()); // `other` still holds it
    /// assert_eq!(other.release().unwrap_err().error().to_string(), "refused");
    /// ```
    pub fn release(mut self) -> Result<(), CleanupError> {
        let Some(last) = self.take_last() else {
            return Ok(());
        };
        let location = last.location;
        Exit::outside(Ending::Succeeded, |exit| last.run_sync(exit))
            .map_err(|error| CleanupError::new(error).with_location(location))
    }

    /// Lets go of this lease now, as [`release`](Shared::release), but awaits an async
    /// teardown if this was the last lease.
    ///
    /// ```
    /// use exitstack::Shared;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let shared = Shared::new_async(5, |_, _| async { Err::<(), _>("refused") });
    /// assert_eq!(shared.release_async().await.unwrap_err().error().to_string(), "refused");
    /// # });
    /// ```
    pub async fn release_async(mut self) -> Result<(), CleanupError> {
        let Some(last) = self.take_last() else {
            return Ok(());
        };
        let location = last.location;
        // The exit is read before the first await: the future cannot borrow it.
        let release: AsyncRelease = Exit::outside(Ending::Succeeded, |exit| match last.teardown {
            Teardown::Sync(teardown) => Box::pin(std::future::ready(teardown(last.value, exit))),
            Teardown::Async(teardown) => teardown(last.value, exit),
        });
        let result = release.await;
        result.map_err(|error| CleanupError::new(error).with_location(location))
    }

    /// Lets go of this lease; returns the value and its teardown if it was the last one. Runs
    /// no user code (a count goes down, or the cell is taken apart).
    pub(crate) fn take_last(&mut self) -> Option<Last<T>> {
        let Inner {
            value,
            teardown,
            location,
        } = Arc::into_inner(self.inner.take()?)?;
        let teardown = teardown
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        Some(Last {
            value,
            teardown,
            location,
        })
    }
}

impl<T> Last<T> {
    /// Runs a sync teardown; an async one cannot run here: the value is dropped (its panic goes
    /// on) and the error is a [`NotRunError`].
    pub(crate) fn run_sync(self, exit: &Exit<'_>) -> Result<(), BoxError> {
        match self.teardown {
            Teardown::Sync(teardown) => teardown(self.value, exit),
            Teardown::Async(teardown) => {
                drop(teardown);
                drop(self.value);
                Err(Box::new(NotRunError))
            }
        }
    }
}

impl<T> Clone for Shared<T> {
    /// One more lease on the same value.
    ///
    /// ```
    /// let shared = exitstack::Shared::new(1, |_, _| ());
    /// let other = shared.clone();
    /// assert_eq!(other.leases(), 2);
    /// ```
    fn clone(&self) -> Self {
        Shared {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        match &self.inner {
            Some(inner) => &inner.value,
            None => unreachable!("a `Shared` is emptied only while it is let go"),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("value", &**self)
            .field("leases", &self.leases())
            .finish()
    }
}

impl<T> Drop for Shared<T> {
    /// Lets go of the lease; the last one runs the teardown (see [`Shared`]).
    fn drop(&mut self) {
        if let Some(last) = self.take_last() {
            released_in_drop(last);
        }
    }
}

/// The last lease let go by a plain `Drop`: the teardown's error goes to `error_in_drop`, an
/// async teardown is reported as not run, a panic goes on (or is reported during a panic).
#[cold]
#[inline(never)]
fn released_in_drop<T>(last: Last<T>) {
    let location = last.location;
    let is_async = matches!(last.teardown, Teardown::Async(_));
    let ran = panic::catch_unwind(AssertUnwindSafe(|| {
        Exit::outside(dropped_ending(), |exit| last.run_sync(exit))
    }));
    match ran {
        Ok(Ok(())) => {}
        Ok(Err(error)) if is_async => {
            let error = CleanupError::new(error).with_location(location);
            report::deliver(ReportReason::AsyncNotRun, &error);
            if let Some(payload) = caught::drop_caught(error) {
                resume_or_report(payload, location);
            }
        }
        Ok(Err(error)) => report::error_in_drop(CleanupError::new(error).with_location(location)),
        Err(payload) => resume_or_report(payload, location),
    }
}

/// A panic caught in a `Drop`: goes on, or is reported if the thread is already panicking.
fn resume_or_report(payload: caught::Payload, location: &'static Location<'static>) {
    if std::thread::panicking() {
        let site = Site::new(location);
        caught::report_panic(ReportReason::PanicDuringPanic, &*payload, Some(&site));
        caught::drop_payload(payload, Some(&site));
    } else {
        panic::resume_unwind(payload);
    }
}

/// A lease held by a sync stack's entry: `enter_shared`.
pub(crate) struct Lease<T>(pub(crate) Shared<T>);

impl<T> Body for Lease<T> {
    fn run(mut self, exit: &Exit<'_>, _: StackRef) -> Step {
        match self.0.take_last() {
            None => Step::DONE,
            Some(last) => step_of(last.run_sync(exit)),
        }
    }
}

impl<'a, S: Threading> ExitStack<'a, S> {
    /// Shares `value`: registers a lease on it in this stack and returns another,
    /// a [`Shared`] to hand to other stacks ([`enter_shared`](Self::enter_shared)), threads or
    /// tasks. `teardown` runs once, when the last lease is let go (see [`Shared`]).
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::sync::mpsc;
    ///
    /// let (sender, receiver) = mpsc::channel();
    /// let mut stack = ExitStack::new();
    /// let config = stack.share(String::from("shared config"), move |config, _| {
    ///     sender.send(config).unwrap();
    /// });
    /// let reader = std::thread::spawn(move || config.len()); // the other lease, on a thread
    /// assert_eq!(reader.join().unwrap(), 13);
    /// stack.close().unwrap(); // the last lease: torn down here
    /// assert_eq!(receiver.try_recv().unwrap(), "shared config");
    /// ```
    #[track_caller]
    pub fn share<T, F, R>(&self, value: T, teardown: F) -> Shared<T>
    where
        T: 'a,
        F: FnOnce(T, &Exit<'_>) -> R + Send + 'static,
        R: CleanupOutput,
        S: Admits<Shared<T>>,
    {
        let shared = Shared::new(value, teardown);
        self.enter_shared(shared.clone());
        shared
    }

    /// Registers `shared` as a lease of this stack: when the stack unwinds to it, the lease is
    /// let go, and if it was the last one the teardown runs here, its error joining this
    /// stack's result. The handle cancels the lease (dropping it, as a plain `Shared`), releases
    /// it now, or labels it.
    ///
    /// ```
    /// use exitstack::{ExitStack, Shared};
    ///
    /// let shared = Shared::new("log file", |_, _| Err::<(), _>("flush failed"));
    /// let mut stack = ExitStack::new();
    /// stack.enter_shared(shared.clone()).label("log lease");
    /// drop(shared);
    /// let errors = stack.close().unwrap_err();
    /// assert_eq!(errors.first().label(), Some("log lease"));
    /// ```
    #[track_caller]
    pub fn enter_shared<T>(&self, shared: Shared<T>) -> Handle<'_, S>
    where
        T: 'a,
        S: Admits<Shared<T>>,
    {
        self.push_stored::<SyncStorage, _>(Lease(shared), Location::caller())
    }
}
