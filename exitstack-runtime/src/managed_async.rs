//! Support for async [`#[managed]`](crate::managed) structs: the generated `aclose` releases
//! each field through a [`Release`] and records its outcome on an [`AsyncTeardown`], wave by
//! wave. A wave is polled with the crate's one join (`async_stack/join.rs`, shared with
//! concurrent release groups); a sequential `aclose` is a series of one-field waves.
//!
//! The rules are those of the sync teardown ([`Running`](crate::managed::Running), on the
//! stack's own `Pending`): a failing or panicking closer never stops the others, the first panic
//! is resumed at the end (or reported during a panic), errors are kept in teardown order with
//! their field's label. A release takes its field's value only when it starts, so an `aclose`
//! future dropped part-way leaves every field it had not started in the struct, whose `Drop`
//! then tears down the sync ones and reports the async ones; a release in flight is dropped
//! and reported as not run ([`ReportReason::AsyncNotRun`](crate::report::ReportReason)); an
//! outcome not yet recorded, and the errors recorded so far, are reported. Each field is torn
//! down, or reported, exactly once.
//!
//! Nothing here boxes a closer's future behind `dyn`: a release is generic over its closer and
//! future, so the `aclose` future is `Send` exactly when the fields and closers are.

use std::borrow::Cow;
use std::future::{ready, Future};
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use crate::async_stack::join::{JoinState, Joined};
use crate::async_stack::report_not_run;
use crate::caught;
use crate::ending::Ending;
use crate::error::{BoxError, UnwindError};
use crate::managed::ManagedField;
use crate::output::CleanupOutput;
use crate::pending::Pending;
use crate::report;
use crate::site::Site;

/// What releasing one field came to: its closer's result, or its panic.
type Outcome = std::thread::Result<Result<(), BoxError>>;

fn site(label: &'static str, location: &'static Location<'static>) -> Site {
    let mut site = Site::new(location);
    site.set_label(Cow::Borrowed(label));
    site
}

enum Step<C, Fut> {
    /// Not started: the value is still in the field, the closer not called.
    Waiting(C),
    /// The closer's future, in flight.
    Running(Pin<Box<Fut>>),
    /// Finished: its outcome, until [`AsyncTeardown::record`] takes it.
    Done(Option<Outcome>),
}

/// The release of one field of an async `#[managed]` struct: `closer(value)`, awaited.
///
/// It borrows the field and takes the value out only when it starts. Dropped while in flight,
/// the closer's future is dropped and the field reported as not run; dropped with an outcome
/// that was not recorded, the outcome is reported.
pub(crate) struct Release<'f, T, C, Fut> {
    field: &'f mut ManagedField<T>,
    label: &'static str,
    location: &'static Location<'static>,
    step: Step<C, Fut>,
    #[cfg(feature = "tracing")]
    timer: Option<crate::trace::Timer>,
}

impl<'f, T, C, Fut> Release<'f, T, C, Fut>
where
    C: FnOnce(T) -> Fut,
    Fut: Future,
    Fut::Output: CleanupOutput,
{
    #[track_caller]
    fn new(field: &'f mut ManagedField<T>, label: &'static str, closer: C) -> Self {
        Release {
            field,
            label,
            location: Location::caller(),
            step: Step::Waiting(closer),
            #[cfg(feature = "tracing")]
            timer: None,
        }
    }
}

/// One field's release in a wave, as generated code sees it: opaque, so that a closer of the
/// wrong type is one error, on the call that makes the release, and nothing after it.
pub trait FieldRelease: Joined {
    /// Records the outcome once the release is over (see `AsyncTeardown::record`).
    fn record_into(&mut self, teardown: &mut AsyncTeardown);
}

impl<T, C, Fut> FieldRelease for Release<'_, T, C, Fut>
where
    C: FnOnce(T) -> Fut,
    Fut: Future,
    Fut::Output: CleanupOutput,
{
    fn record_into(&mut self, teardown: &mut AsyncTeardown) {
        teardown.record(self);
    }
}

/// A field released by an async closer (`aclose = path`): `closer(value)`, awaited.
#[track_caller]
pub fn release_async<'f, T, C, Fut>(
    field: &'f mut ManagedField<T>,
    label: &'static str,
    closer: C,
) -> impl FieldRelease + 'f
where
    T: 'f,
    C: FnOnce(T) -> Fut + 'f,
    Fut: Future + 'f,
    Fut::Output: CleanupOutput,
{
    Release::new(field, label, closer)
}

/// A field released by a sync closer (`close = path`), as one step of a wave: the closer runs
/// when the release starts.
#[track_caller]
pub fn release_sync<'f, T, R, F>(
    field: &'f mut ManagedField<T>,
    label: &'static str,
    closer: F,
) -> impl FieldRelease + 'f
where
    T: 'f,
    F: 'f,
    R: 'f,
    F: FnOnce(T) -> R,
    R: CleanupOutput,
{
    Release::new(field, label, move |value| ready(closer(value)))
}

/// A field released by dropping it, as one step of a wave; errors its `Drop` hands to the
/// report channel's collector (a nested `#[managed]` struct) join the teardown's result.
#[track_caller]
pub fn release_drop<'f, T: 'f>(
    field: &'f mut ManagedField<T>,
    label: &'static str,
) -> impl FieldRelease + 'f {
    Release::new(field, label, |value| ready(report::drop_collecting(value)))
}

impl<T, C, Fut> Release<'_, T, C, Fut>
where
    C: FnOnce(T) -> Fut,
    Fut: Future,
    Fut::Output: CleanupOutput,
{
    fn finish(&mut self, outcome: Outcome) {
        #[cfg(feature = "tracing")]
        crate::trace::field_ran(self.timer.take(), self.label, self.location, &outcome);
        self.step = Step::Done(Some(outcome));
    }
}

impl<T, C, Fut> Joined for Release<'_, T, C, Fut>
where
    C: FnOnce(T) -> Fut,
    Fut: Future,
    Fut::Output: CleanupOutput,
{
    fn state(&self) -> JoinState {
        match self.step {
            Step::Waiting(_) => JoinState::Waiting,
            Step::Running(_) => JoinState::Running,
            Step::Done(_) => JoinState::Done,
        }
    }

    /// Takes the value and calls the closer (a panic there is the field's outcome). A field
    /// already taken has nothing to release.
    fn start(&mut self) {
        let step = std::mem::replace(&mut self.step, Step::Done(None));
        let Step::Waiting(closer) = step else {
            self.step = step;
            return;
        };
        let Some(value) = self.field.value.take() else {
            return;
        };
        #[cfg(feature = "tracing")]
        {
            self.timer = crate::trace::start(Ending::Succeeded);
        }
        match panic::catch_unwind(AssertUnwindSafe(move || Box::pin(closer(value)))) {
            Ok(future) => self.step = Step::Running(future),
            Err(payload) => self.finish(Err(payload)),
        }
    }

    fn poll_joined(&mut self, cx: &mut TaskContext<'_>) -> Poll<()> {
        let Step::Running(future) = &mut self.step else {
            return Poll::Ready(());
        };
        let polled = panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)));
        let outcome = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => Ok(output.into_result()),
            Err(payload) => Err(payload),
        };
        // The future is done: drop it now (its drop may panic too; that is the field's panic
        // if the closer did not panic first).
        let Step::Running(future) = std::mem::replace(&mut self.step, Step::Done(None)) else {
            unreachable!()
        };
        let outcome = match (outcome, caught::drop_caught(future)) {
            (outcome, None) | (outcome @ Err(_), Some(_)) => outcome,
            (Ok(_), Some(payload)) => Err(payload),
        };
        self.finish(outcome);
        Poll::Ready(())
    }
}

impl<T, C, Fut> Drop for Release<'_, T, C, Fut> {
    /// An `aclose` dropped part-way: a release in flight is reported as not run, an outcome
    /// nobody recorded is reported. A release that never started left its value in the field.
    fn drop(&mut self) {
        let site = site(self.label, self.location);
        match std::mem::replace(&mut self.step, Step::Done(None)) {
            Step::Waiting(_) | Step::Done(None) => {}
            Step::Running(future) => {
                let dropped = caught::drop_caught(future);
                report_not_run(site.duplicate());
                if let Some(payload) = dropped {
                    let mut pending = Pending::new(Ending::Abandoned);
                    pending.record_panic(payload, Some(&site));
                    pending.finish_unobserved();
                }
            }
            Step::Done(Some(outcome)) => {
                let mut pending = Pending::new(Ending::Abandoned);
                record(&mut pending, outcome, site);
                pending.finish_unobserved();
            }
        }
    }
}

fn record(pending: &mut Pending, outcome: Outcome, site: Site) {
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => pending.record_error(error, site),
        Err(payload) => pending.record_panic(payload, Some(&site)),
    }
}

/// The outcome of an async teardown under way. Dropped before [`finish`](Self::finish) (the
/// `aclose` future dropped part-way), it reports what it recorded, as a dropped stack does.
pub struct AsyncTeardown {
    pending: Option<Pending>,
}

impl AsyncTeardown {
    /// A teardown that has recorded nothing yet.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        AsyncTeardown {
            pending: Some(Pending::for_scope(Ending::Succeeded, false, None)),
        }
    }

    /// Records a finished release's outcome (nothing for one that had nothing to release).
    fn record<T, C, Fut>(&mut self, release: &mut Release<'_, T, C, Fut>) {
        let Step::Done(outcome) = &mut release.step else {
            return;
        };
        let (Some(outcome), Some(pending)) = (outcome.take(), self.pending.as_mut()) else {
            return;
        };
        record(pending, outcome, site(release.label, release.location));
    }

    /// Every error, in teardown order; the first panic is resumed instead (after reporting the
    /// errors it would lose), or reported during a panic.
    pub fn finish(mut self) -> Result<(), UnwindError> {
        match self.pending.take() {
            Some(pending) => pending.finish(None),
            None => Ok(()),
        }
    }
}

impl Drop for AsyncTeardown {
    fn drop(&mut self) {
        if let Some(mut pending) = self.pending.take() {
            pending.set_ending(Ending::Abandoned);
            pending.finish_unobserved();
        }
    }
}

/// Polls one wave of releases together, at most `limit` at once (`usize::MAX`: no limit); a
/// `None` is a field compiled out.
pub fn poll_wave(
    releases: &mut [Option<&mut dyn Joined>],
    limit: usize,
    cx: &mut TaskContext<'_>,
) -> Poll<()> {
    crate::async_stack::join::poll_joined(releases, limit, cx)
}

impl crate::managed::Running {
    /// In the `Drop` of an async `#[managed]` struct: an async field cannot be awaited there, so
    /// its value is dropped (errors its `Drop` reports join the teardown's, as for a sync field)
    /// and it is reported as not run, with reason
    /// [`AsyncNotRun`](crate::report::ReportReason::AsyncNotRun). A taken field is skipped.
    #[track_caller]
    pub fn not_run<T>(&mut self, field: &mut ManagedField<T>, label: &'static str) {
        let location = Location::caller();
        if field.value.is_some() {
            self.drop(field, label);
            report_not_run(site(label, location));
        }
    }
}
