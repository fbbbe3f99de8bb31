//! Every cleanup, traced (feature `tracing`): one `tracing` event per cleanup that runs, with
//! its label, registration site, duration and outcome, and a warning when it was slow.
//!
//! Each cleanup run by a stack (sync or async, closed, scoped or dropped, or released through
//! its handle) and each field released by a [`#[managed]`](crate::managed) teardown emits one
//! event on target `exitstack` as it finishes, whether its error is then returned or goes to
//! the [report channel](crate::report). Its fields:
//!
//! | field | value |
//! |---|---|
//! | `label` | the entry's label (the field's name for `#[managed]`); absent if it has none |
//! | `site` | where the entry was registered, `file:line:column` |
//! | `duration_us` | how long it ran, in microseconds (an async cleanup: from building its future to its completion, across every await) |
//! | `outcome` | `ok`, `failed`, `panicked`, `suppressed` (an exit handler suppressed what was pending), `skipped` (an error-only or success-only cleanup whose condition did not hold), `timed_out` (an async cleanup cut off by the stack's time limit), `nested` (a stack pushed with `push_stack`, once all its entries have run) |
//! | `ending` | how the scope ended, as the cleanup saw it (`Succeeded`, `Failed`, `Abandoned`, `Panicked`) |
//! | `error` | for `failed`, `panicked` and `timed_out`: the error's text, or the panic message |
//!
//! Level `DEBUG` for `ok`, `skipped`, `suppressed` and `nested`; `WARN` for `failed`,
//! `panicked` and `timed_out`. A cleanup that ran longer than the [slow
//! threshold](set_slow_threshold) (100 ms unless set) also emits a `WARN` event "slow
//! cleanup", with the same fields and `threshold_us`.
//!
//! The events are events, not spans: one event with its duration costs two clock reads and
//! nothing when no subscriber listens (the clock is not read unless `WARN` is enabled for
//! target `exitstack`). Cleanups that want their own work timed in detail can open spans
//! of their own. The error's text is formatted only when the event is enabled, and a `Display`
//! that panics shows as a placeholder; a subscriber that panics is caught and does not disturb
//! the unwind. Without the feature, none of this is compiled.
//!
//! Async cleanups left unrun by a stack dropped without `aclose` do not run, so they emit no
//! event: they are reported (`ReportReason::AsyncNotRun`) or spawned.
//!
//! # Examples
//!
//! ```
//! use exitstack::ExitStack;
//! use std::time::Duration;
//!
//! // Usually set once at start-up, next to the subscriber (e.g. `tracing_subscriber::fmt()`
//! // with `RUST_LOG=exitstack=debug`).
//! exitstack::trace::set_slow_threshold(Duration::from_millis(250));
//! assert_eq!(exitstack::trace::slow_threshold(), Duration::from_millis(250));
//!
//! let mut stack = ExitStack::new();
//! stack.callback(|| {}).label("flush"); // DEBUG: label="flush" outcome="ok" ...
//! stack.callback(|| Err("disk full")); // WARN: outcome="failed" error="disk full" ...
//! assert!(stack.close().is_err());
//! # exitstack::trace::set_slow_threshold(Duration::from_millis(100));
//! ```

use std::any::Any;
use std::cell::Cell;
use std::error::Error;
use std::panic::{self, AssertUnwindSafe, Location};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tracing::Level;

use crate::arena::{fits_inline, Arena, Rare, StackRef, Step};
use crate::caught::{self, Payload};
use crate::ending::Ending;
use crate::entry::{Body, VTableOf};
use crate::error::{BoxError, PanicError};
use crate::exit::Exit;
use crate::site::Site;

/// The slow threshold in nanoseconds (`u64::MAX`: never slow).
static SLOW_NANOS: AtomicU64 = AtomicU64::new(100_000_000);

/// Sets the duration past which a cleanup also emits a `WARN` "slow cleanup" event, for the
/// whole process (default 100 ms). `Duration::MAX` turns the warning off.
///
/// ```
/// use std::time::Duration;
///
/// exitstack::trace::set_slow_threshold(Duration::from_millis(20));
/// assert_eq!(exitstack::trace::slow_threshold(), Duration::from_millis(20));
/// # exitstack::trace::set_slow_threshold(Duration::from_millis(100));
/// ```
pub fn set_slow_threshold(threshold: Duration) {
    let nanos = u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX);
    SLOW_NANOS.store(nanos, Ordering::Relaxed);
}

/// The duration past which a cleanup is reported slow (see [`set_slow_threshold`]).
///
/// ```
/// # exitstack::trace::set_slow_threshold(std::time::Duration::from_millis(100));
/// assert_eq!(exitstack::trace::slow_threshold(), std::time::Duration::from_millis(100));
/// ```
pub fn slow_threshold() -> Duration {
    Duration::from_nanos(SLOW_NANOS.load(Ordering::Relaxed))
}

/// What a cleanup that just ran left for its own trace event, besides its step.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    None,
    /// An error-only or success-only cleanup whose condition did not hold.
    Skipped,
    /// Not a cleanup of the user's: emits no event of its own.
    Silent,
}

thread_local! {
    /// Set by the cleanup that runs (the innermost one, on this thread), read right after it.
    static MARK: Cell<Mark> = const { Cell::new(Mark::None) };
}

fn set_mark(mark: Mark) {
    let _ = MARK.try_with(|cell| cell.set(mark));
}

fn take_mark() -> Mark {
    MARK.try_with(|cell| cell.replace(Mark::None))
        .unwrap_or(Mark::None)
}

/// Called by an error-only or success-only cleanup that did not run its closure.
#[inline]
pub(crate) fn mark_skipped() {
    set_mark(Mark::Skipped);
}

/// Called by an entry that is no cleanup of the user's (a tombstone, whose body already ran or
/// was cancelled; the end marker of a nested stack, which emits its own event).
#[inline]
pub(crate) fn mark_silent() {
    set_mark(Mark::Silent);
}

/// A cleanup being timed.
pub(crate) struct Timer {
    start: Instant,
    /// The scope's ending as the cleanup saw it when it started.
    ending: Ending,
}

/// Starts timing a cleanup, if anyone listens: `None` when `WARN` is not enabled on target
/// `exitstack` (then nothing is emitted for it).
#[inline]
pub(crate) fn start(ending: Ending) -> Option<Timer> {
    // The subscriber is the user's code: its panic must not escape the unwind.
    let enabled = panic::catch_unwind(|| tracing::enabled!(target: "exitstack", Level::WARN));
    match enabled {
        Ok(true) => {
            set_mark(Mark::None);
            Some(Timer {
                start: Instant::now(),
                ending,
            })
        }
        Ok(false) => None,
        Err(payload) => {
            caught::drop_payload(payload, None);
            None
        }
    }
}

/// How one cleanup ended, as its event says.
pub(crate) enum Outcome<'a> {
    Ok,
    Skipped,
    Suppressed,
    Nested,
    Failed(&'a (dyn Error + 'static)),
    Panicked(&'a (dyn Any + Send)),
    TimedOut(&'a (dyn Error + 'static)),
}

impl Outcome<'_> {
    fn name(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Skipped => "skipped",
            Outcome::Suppressed => "suppressed",
            Outcome::Nested => "nested",
            Outcome::Failed(_) => "failed",
            Outcome::Panicked(_) => "panicked",
            Outcome::TimedOut(_) => "timed_out",
        }
    }

    /// The error's text (never calling its `Display` uncaught), or the panic message.
    fn error_text(&self) -> Option<String> {
        match self {
            Outcome::Failed(error) | Outcome::TimedOut(error) => {
                Some(caught::to_string_caught(error))
            }
            Outcome::Panicked(payload) => {
                Some(PanicError::from_payload(*payload).message().to_owned())
            }
            _ => None,
        }
    }
}

/// The hook of the sync loop (`unwind::run_popped`): traces the entry that just ran, from its
/// step. A nested stack about to be spliced gets an end marker under its entries, which emits
/// its event once they have all run.
#[inline]
pub(crate) fn sync_ran(
    timer: Option<Timer>,
    arena: &Arena,
    site: &Site,
    step: &Result<Option<Box<Rare>>, Payload>,
) {
    let Some(timer) = timer else { return };
    let outcome = match step {
        Ok(None) => match take_mark() {
            Mark::None => Outcome::Ok,
            Mark::Skipped => Outcome::Skipped,
            Mark::Silent => return,
        },
        Ok(Some(rare)) => match &**rare {
            Rare::Failed(error) => Outcome::Failed(&**error),
            Rare::Suppress => Outcome::Suppressed,
            Rare::Splice(_) => return push_nested_end(arena, timer, site),
        },
        Err(payload) => Outcome::Panicked(&**payload),
    };
    emit(&timer, site.label(), site.location(), &outcome);
}

/// The end of a nested stack: the entry under its spliced entries, run once they all have.
struct NestedEnd {
    timer: Timer,
    site: Site,
}

const _: () = assert!(fits_inline::<NestedEnd>());

impl Body for NestedEnd {
    fn run(self, _: &Exit<'_>, _: StackRef) -> Step {
        emit(
            &self.timer,
            self.site.label(),
            self.site.location(),
            &Outcome::Nested,
        );
        mark_silent(); // the marker itself is not a cleanup of the user's
        Step::DONE
    }
}

#[cold]
#[inline(never)]
fn push_nested_end(arena: &Arena, timer: Timer, site: &Site) {
    let end = NestedEnd {
        timer,
        site: site.duplicate(),
    };
    // SAFETY: the vtable is `NestedEnd`'s own, and it fits inline (checked above).
    unsafe { arena.push(end, VTableOf::<NestedEnd>::VTABLE, site.duplicate()) };
}

/// The hook of the async loop: an async cleanup finished (its future completed or timed out, or
/// building it panicked, or dropping it did).
pub(crate) fn async_ran(timer: Option<Timer>, site: &Site, outcome: Outcome<'_>) {
    if let Some(timer) = timer {
        emit(&timer, site.label(), site.location(), &outcome);
    }
}

/// The hook of a `#[managed]` field teardown.
pub(crate) fn field_ran(
    timer: Option<Timer>,
    label: &str,
    location: &'static Location<'static>,
    result: &std::thread::Result<Result<(), BoxError>>,
) {
    let Some(timer) = timer else { return };
    let outcome = match result {
        Ok(Ok(())) => Outcome::Ok,
        Ok(Err(error)) => Outcome::Failed(&**error),
        Err(payload) => Outcome::Panicked(&**payload),
    };
    emit(&timer, Some(label), location, &outcome);
}

/// Emits the event of one cleanup (and the slow warning), catching a panicking subscriber.
#[inline(never)]
fn emit(
    timer: &Timer,
    label: Option<&str>,
    location: &'static Location<'static>,
    outcome: &Outcome<'_>,
) {
    let elapsed = timer.start.elapsed();
    let emitted = panic::catch_unwind(AssertUnwindSafe(|| {
        emit_events(elapsed, timer.ending, label, location, outcome);
    }));
    if let Err(payload) = emitted {
        caught::drop_payload(payload, None);
    }
}

fn emit_events(
    elapsed: Duration,
    ending: Ending,
    label: Option<&str>,
    site: &'static Location<'static>,
    outcome: &Outcome<'_>,
) {
    let duration_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let name = outcome.name();
    match outcome {
        Outcome::Ok | Outcome::Skipped | Outcome::Suppressed | Outcome::Nested => {
            tracing::debug!(
                target: "exitstack",
                label,
                %site,
                duration_us,
                outcome = name,
                ?ending,
                "cleanup finished"
            );
        }
        Outcome::Failed(_) | Outcome::Panicked(_) | Outcome::TimedOut(_) => {
            tracing::warn!(
                target: "exitstack",
                label,
                %site,
                duration_us,
                outcome = name,
                ?ending,
                error = outcome.error_text(),
                "cleanup finished"
            );
        }
    }
    let threshold = slow_threshold();
    if elapsed > threshold {
        let threshold_us = u64::try_from(threshold.as_micros()).unwrap_or(u64::MAX);
        tracing::warn!(
            target: "exitstack",
            label,
            %site,
            duration_us,
            threshold_us,
            outcome = name,
            ?ending,
            "slow cleanup"
        );
    }
}
