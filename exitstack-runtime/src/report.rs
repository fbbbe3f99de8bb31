//! The report channel: where errors go when nobody can receive them as a return value.
//!
//! That happens when a stack is dropped without `close`, when a panic is resumed while cleanup
//! errors are pending, when a cleanup panics while the thread is already panicking, and when a
//! value's `Drop` finds an error outside any stack (see [`error_in_drop`]). By default each report
//! is printed to standard error. [`set_reporter`] installs a process-wide reporter (for example
//! `log_reporter` or `tracing_reporter` with the `log` / `tracing` features), and
//! [`with_reporter`] overrides it on the current thread for the length of a closure, which is
//! how tests observe reports.
//!
//! # Examples
//!
//! ```
//! use exitstack::{report, ExitStack};
//! use std::sync::{Arc, Mutex};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = Arc::clone(&seen);
//! report::with_reporter(
//!     move |report: &report::Report<'_>| sink.lock().unwrap().push(report.error().to_string()),
//!     || {
//!         let stack = ExitStack::new();
//!         stack.callback(|| Err("lost without the report channel"));
//!         drop(stack); // dropped without close: the error cannot be returned
//!     },
//! );
//! assert_eq!(*seen.lock().unwrap(), ["cleanup failed: lost without the report channel"]);
//! ```

use std::cell::{Cell, RefCell};
use std::fmt;
use std::io::Write;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, RwLock};

use crate::caught;
use crate::error::{CleanupError, UnwindError};

/// Why an error is reported instead of returned.
///
/// ```
/// use exitstack::report::{self, ReportReason};
/// use exitstack::ExitStack;
/// use std::sync::{Arc, Mutex};
///
/// let reasons = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&reasons);
/// report::with_reporter(
///     move |report: &report::Report<'_>| sink.lock().unwrap().push(report.reason()),
///     || {
///         let stack = ExitStack::new();
///         stack.callback(|| Err("nobody to return this to"));
///     }, // the stack is dropped here without close
/// );
/// assert_eq!(*reasons.lock().unwrap(), [ReportReason::Dropped]);
/// assert_eq!(ReportReason::Dropped.to_string(), "exit stack dropped without close");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReportReason {
    /// A stack was dropped without `close`, so its errors had no caller to go to.
    Dropped,
    /// A panic was resumed while these errors were pending.
    LostToPanic,
    /// A cleanup panicked while the thread was already panicking; the panic was caught.
    PanicDuringPanic,
    /// A value found an error in its `Drop` with no stack releasing it.
    DropOutsideStack,
    /// An async entry could not run because its stack was dropped without `aclose`.
    AsyncNotRun,
    /// Dropping the payload of a caught panic panicked in turn (the payload's own `Drop`).
    PayloadDropPanicked,
}

impl fmt::Display for ReportReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReportReason::Dropped => "exit stack dropped without close",
            ReportReason::LostToPanic => "pending while a panic was resumed",
            ReportReason::PanicDuringPanic => "cleanup panicked during a panic",
            ReportReason::DropOutsideStack => "error in drop",
            ReportReason::AsyncNotRun => "async cleanup not run: stack dropped without aclose",
            ReportReason::PayloadDropPanicked => "the drop of a panic payload panicked",
        })
    }
}

/// One reported error and why it was reported.
///
/// ```
/// use exitstack::{report, ExitStack};
/// use std::sync::{Arc, Mutex};
///
/// let lines = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&lines);
/// report::with_reporter(
///     move |report: &report::Report<'_>| sink.lock().unwrap().push(report.to_string()),
///     || drop(ExitStack::new().callback(|| Err("lost")).label("flush")),
/// );
/// let lines = lines.lock().unwrap();
/// assert!(lines[0].starts_with("exitstack: exit stack dropped without close: cleanup `flush`"));
/// assert!(lines[0].ends_with("failed: lost"));
/// ```
#[derive(Debug)]
pub struct Report<'r> {
    reason: ReportReason,
    error: &'r CleanupError,
}

impl<'r> Report<'r> {
    /// Why the error could not be returned.
    ///
    /// ```
    /// use exitstack::report::{self, ReportReason};
    /// use exitstack::ExitStack;
    /// use std::sync::{Arc, Mutex};
    ///
    /// let reasons = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&reasons);
    /// report::with_reporter(
    ///     move |report: &report::Report<'_>| sink.lock().unwrap().push(report.reason()),
    ///     || {
    ///         let _ = std::panic::catch_unwind(|| {
    ///             let stack = ExitStack::new();
    ///             stack.callback(|| Err("pending when the panic resumes"));
    ///             stack.callback(|| panic!("cleanup panics"));
    ///             drop(stack); // not during a panic: the cleanup's panic is resumed
    ///         });
    ///     },
    /// );
    /// assert_eq!(*reasons.lock().unwrap(), [ReportReason::LostToPanic]);
    /// ```
    pub fn reason(&self) -> ReportReason {
        self.reason
    }

    /// The error, with its label and registration site.
    ///
    /// ```
    /// use exitstack::{report, ExitStack};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let labels = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&labels);
    /// report::with_reporter(
    ///     move |report: &report::Report<'_>| {
    ///         let error = report.error();
    ///         sink.lock().unwrap().push((error.label().map(str::to_owned), error.to_string()));
    ///     },
    ///     || drop(ExitStack::new().callback(|| Err("lost")).label("flush")),
    /// );
    /// let expected = (Some("flush".to_owned()), "cleanup `flush` failed: lost".to_owned());
    /// assert_eq!(*labels.lock().unwrap(), [expected]);
    /// ```
    pub fn error(&self) -> &'r CleanupError {
        self.error
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exitstack: {}: {:#}", self.reason, self.error)
    }
}

type Reporter = Arc<dyn Fn(&Report<'_>) + Send + Sync>;

static GLOBAL: RwLock<Option<Reporter>> = RwLock::new(None);

thread_local! {
    static SCOPED: RefCell<Vec<Reporter>> = const { RefCell::new(Vec::new()) };
    /// Errors handed to `error_in_drop` while `drop_collecting` runs, each with the depth (of nested
    /// `drop_collecting` calls) that will collect it.
    static DROP_SINKS: RefCell<Vec<(usize, CleanupError)>> = const { RefCell::new(Vec::new()) };
    /// How deep `drop_collecting` calls are nested, and how many errors `DROP_SINKS` holds: two
    /// plain cells (no destructor, no lazy init), so `enter`'s release checks them in a few
    /// instructions and touches `DROP_SINKS` only when a drop really reported an error.
    static DROP_STATE: DropState = const { DropState { depth: Cell::new(0), pending: Cell::new(0) } };
    /// How many reports are being delivered on this thread (a reporter may cause another).
    static DELIVERING: Cell<usize> = const { Cell::new(0) };
}

/// Reports nested deeper than this (a reporter whose panic's payload panics when dropped,
/// reporting that in turn, ...) skip the reporter and go straight to standard error.
const MAX_NESTED_REPORTS: usize = 3;

struct DropState {
    depth: Cell<usize>,
    pending: Cell<usize>,
}

/// Installs the process-wide reporter, replacing the previous one (standard error by default).
///
/// ```
/// exitstack::report::set_reporter(|report| eprintln!("cleanup trouble: {report}"));
/// # exitstack::report::set_reporter(exitstack::report::stderr_reporter);
/// ```
pub fn set_reporter(reporter: impl Fn(&Report<'_>) + Send + Sync + 'static) {
    let mut global = GLOBAL
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *global = Some(Arc::new(reporter));
}

/// Runs `body` with `reporter` receiving this thread's reports, then restores the previous one.
/// Reports from other threads are unaffected.
///
/// See also the [module documentation](self).
///
/// ```
/// use exitstack::{report, ExitStack};
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
///
/// let count = Arc::new(AtomicUsize::new(0));
/// let sink = Arc::clone(&count);
/// let value = report::with_reporter(
///     move |_: &report::Report<'_>| {
///         sink.fetch_add(1, Ordering::SeqCst);
///     },
///     || {
///         let stack = ExitStack::new();
///         stack.callback(|| Err("one"));
///         stack.callback(|| Err("two"));
///         "the body's value"
///     },
/// );
/// assert_eq!(value, "the body's value");
/// assert_eq!(count.load(Ordering::SeqCst), 2);
/// ```
pub fn with_reporter<R>(
    reporter: impl Fn(&Report<'_>) + Send + Sync + 'static,
    body: impl FnOnce() -> R,
) -> R {
    struct Restore;
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|scoped| scoped.borrow_mut().pop());
        }
    }
    SCOPED.with(|scoped| scoped.borrow_mut().push(Arc::new(reporter)));
    let _restore = Restore;
    body()
}

/// The default reporter: one line on standard error per report.
///
/// ```
/// exitstack::report::set_reporter(exitstack::report::stderr_reporter);
/// ```
pub fn stderr_reporter(report: &Report<'_>) {
    // Formatted whole before anything is written, so an error whose `Display` panics leaves no
    // half line behind. Not `eprintln!`, which panics when standard error is a closed pipe:
    // during a panic that aborts the process.
    let line = format!("{report}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// A reporter that logs each report with `log::error!` (feature `log`).
///
/// ```
/// exitstack::report::set_reporter(exitstack::report::log_reporter);
/// # exitstack::report::set_reporter(exitstack::report::stderr_reporter);
/// ```
#[cfg(feature = "log")]
#[cfg_attr(docsrs, doc(cfg(feature = "log")))]
pub fn log_reporter(report: &Report<'_>) {
    log::error!(target: "exitstack", "{report}");
}

/// A reporter that emits each report as a `tracing` error event (feature `tracing`).
///
/// ```
/// exitstack::report::set_reporter(exitstack::report::tracing_reporter);
/// # exitstack::report::set_reporter(exitstack::report::stderr_reporter);
/// ```
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub fn tracing_reporter(report: &Report<'_>) {
    tracing::error!(
        target: "exitstack",
        reason = %report.reason(),
        label = report.error().label(),
        location = report.error().location().map(tracing::field::display),
        "{}",
        report.error()
    );
}

/// Sends one error to the reporter in force on this thread. Never panics: a reporter that
/// panics (or an error whose `Display` does, inside the reporter) is caught, and the report goes
/// to standard error instead, without formatting the error if that is what panicked.
pub(crate) fn deliver(reason: ReportReason, error: &CleanupError) {
    let report = Report { reason, error };
    let depth = DELIVERING
        .try_with(|depth| depth.replace(depth.get() + 1))
        .unwrap_or(MAX_NESTED_REPORTS);
    if depth >= MAX_NESTED_REPORTS {
        write_fallback(&report, "(a report made while reporting)");
    } else {
        let reporter = current_reporter();
        let delivered = panic::catch_unwind(AssertUnwindSafe(|| match &reporter {
            Some(reporter) => reporter(&report),
            None => stderr_reporter(&report),
        }));
        if let Err(payload) = delivered {
            caught::drop_payload(payload, None);
            write_fallback(&report, "(the reporter panicked)");
        }
    }
    let _ = DELIVERING.try_with(|depth| depth.set(depth.get().saturating_sub(1)));
}

/// The reporter in force on this thread: the scoped one, else the global one, else none
/// (standard error).
fn current_reporter() -> Option<Reporter> {
    let scoped = SCOPED
        .try_with(|scoped| scoped.borrow().last().cloned())
        .ok()
        .flatten();
    scoped.or_else(|| {
        GLOBAL
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    })
}

/// Writes a report to standard error when its reporter could not take it. If formatting the
/// error panics (a hostile `Display`), writes the report without the error's text.
fn write_fallback(report: &Report<'_>, note: &str) {
    let formatted = panic::catch_unwind(AssertUnwindSafe(|| format!("{report} {note}\n")));
    match formatted {
        Ok(line) => {
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
        Err(payload) => write_without_display(report, note, payload),
    }
}

/// `write_fallback` for a report whose error's `Display` panicked.
fn write_without_display(report: &Report<'_>, note: &str, payload: caught::Payload) {
    if let Some(more) = caught::drop_caught(payload) {
        std::mem::forget(more); // not reported: reporting is what failed here
    }
    let error = report.error;
    let mut line = format!("exitstack: {}: cleanup", report.reason);
    if let Some(label) = error.label() {
        line.push_str(&format!(" `{label}`"));
    }
    if let Some(location) = error.location() {
        line.push_str(&format!(" (registered at {location})"));
    }
    line.push_str(&format!(" failed: {} {note}\n", caught::DISPLAY_PANICKED));
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Hands over an error found inside a `Drop` implementation.
///
/// When the value is being released by an [`ExitStack`](crate::ExitStack) (it was entered with
/// `enter`), the error joins that stack's result, so `close` returns it. Otherwise it goes to the
/// reporter. `#[managed]` structs use this for errors of a teardown that runs in `Drop`.
///
/// ```
/// use exitstack::{report, CleanupError, ExitStack};
///
/// struct Flusher;
/// impl Drop for Flusher {
///     fn drop(&mut self) {
///         report::error_in_drop(CleanupError::new("flush failed"));
///     }
/// }
///
/// let mut stack = ExitStack::new();
/// stack.enter(Flusher);
/// let errors = stack.close().unwrap_err();
/// assert_eq!(errors.first().error().to_string(), "flush failed");
/// ```
pub fn error_in_drop(error: CleanupError) {
    errors_in_drop(vec![error]);
}

/// [`error_in_drop`] for several errors at once (a `#[managed]` teardown in `Drop`): all of them are
/// collected or reported before any of them is dropped, so an error whose `Drop` panics cannot
/// cut the others off.
pub(crate) fn errors_in_drop(errors: Vec<CleanupError>) {
    let depth = DROP_STATE.try_with(|state| state.depth.get()).unwrap_or(0);
    let mut unclaimed = Some(errors);
    if depth > 0 {
        let _ = DROP_SINKS.try_with(|sinks| {
            let mut sinks = sinks.borrow_mut();
            let claimed = unclaimed.take().into_iter().flatten();
            sinks.extend(claimed.map(|error| (depth, error)));
            DROP_STATE.with(|state| state.pending.set(sinks.len()));
        });
    }
    if let Some(errors) = unclaimed {
        if let Some(payload) = caught::report_and_drop(errors, ReportReason::DropOutsideStack) {
            panic::resume_unwind(payload);
        }
    }
}

/// Takes the errors collected at `depth` (and any left deeper), oldest first.
#[cold]
#[inline(never)]
fn take_collected(depth: usize) -> Vec<CleanupError> {
    let pending = DROP_STATE.try_with(|state| state.pending.get());
    if pending.unwrap_or(0) == 0 {
        return Vec::new();
    }
    DROP_SINKS
        .try_with(|sinks| {
            let mut sinks = sinks.borrow_mut();
            let start = sinks
                .iter()
                .rposition(|(at, _)| *at < depth)
                .map_or(0, |index| index + 1);
            let taken = sinks.drain(start..).map(|(_, error)| error).collect();
            DROP_STATE.with(|state| state.pending.set(sinks.len()));
            taken
        })
        .unwrap_or_default()
}

/// Drops `value`, collecting what its `Drop` hands to [`error_in_drop`] as the result.
///
/// This runs for every entered value, so the common case (no error reported) only bumps and
/// restores a thread-local depth and checks a thread-local count.
#[inline]
pub(crate) fn drop_collecting<T>(value: T) -> Result<(), UnwindError> {
    /// Restores the depth if the drop panics, and reports what it had collected by then.
    struct Collecting {
        depth: usize,
    }
    impl Drop for Collecting {
        #[cold]
        fn drop(&mut self) {
            let _ = DROP_STATE.try_with(|state| state.depth.set(self.depth - 1));
            let lost = take_collected(self.depth);
            if let Some(payload) = caught::report_and_drop(lost, ReportReason::LostToPanic) {
                caught::drop_payload(payload, None); // not reached: this runs during a panic
            }
        }
    }
    if !std::mem::needs_drop::<T>() {
        return Ok(()); // dropping it runs no code, so nothing can be reported
    }
    let depth = DROP_STATE.with(|state| {
        let depth = state.depth.get() + 1;
        state.depth.set(depth);
        depth
    });
    let collecting = Collecting { depth };
    drop(value);
    std::mem::forget(collecting); // no panic: the depth is restored here instead
    let pending = DROP_STATE.with(|state| {
        state.depth.set(depth - 1);
        state.pending.get()
    });
    if pending == 0 {
        return Ok(());
    }
    match UnwindError::from_errors(take_collected(depth)) {
        None => Ok(()),
        Some(errors) => Err(errors),
    }
}
