//! Shared support for the exitstack integration tests (one binary per area: `tests/*/main.rs`,
//! and a few single-file binaries that need a process of their own) and the demo.
//!
//! - [`Log`]: a recording log that cleanups write to, so a test can assert the order things
//!   were released in. It is `Send`, so it also works with `SendExitStack` and threads.
//! - [`capture_reports`]: runs a closure with a thread-scoped reporter and returns what was sent
//!   to the report channel, flattened to plain strings a test can compare.
//! - [`executor`]: a minimal busy-polling executor; [`thread_log`]: a log on the current thread.
//! - [`demo`]: the demo program (`cargo run -p exitstack-tests --example demo`), as a library
//!   module so that `tests/patterns/demo.rs` can run it and check what it left behind.
//! - [`test_name`]: the name to re-run one test of the current binary in a child process.

use std::panic::Location;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use exitstack::report::{self, ReportReason};
use exitstack::CleanupError;

pub mod demo;
pub mod executor;
pub mod thread_log;

/// An ordered, shareable record of events.
///
/// ```
/// use exitstack::ExitStack;
/// use exitstack_tests::Log;
///
/// let log = Log::new();
/// let mut stack = ExitStack::new();
/// stack.callback(log.recorder("a"));
/// stack.callback(log.recorder("b"));
/// stack.close().unwrap();
/// assert_eq!(log.entries(), ["b", "a"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    /// An empty log.
    pub fn new() -> Self {
        Log::default()
    }

    /// Appends one event.
    pub fn push(&self, event: impl Into<String>) {
        self.lock().push(event.into());
    }

    /// A cleanup closure that appends `event` when it runs.
    pub fn recorder(&self, event: impl Into<String>) -> impl FnOnce() + Send + 'static {
        let log = self.clone();
        let event = event.into();
        move || log.push(event)
    }

    /// Every event so far, oldest first.
    pub fn entries(&self) -> Vec<String> {
        self.lock().clone()
    }

    /// Removes and returns every event so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock())
    }

    fn lock(&self) -> MutexGuard<'_, Vec<String>> {
        // A test that panics on purpose while holding the lock must not poison later asserts.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One report, as received by the reporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Captured {
    /// Why it was reported.
    pub reason: ReportReason,
    /// The cleanup's label, if it had one.
    pub label: Option<String>,
    /// The error's own message (`CleanupError::error().to_string()`).
    pub message: String,
    /// Where the failed cleanup was registered: `(file, line)`.
    pub site: Option<(String, u32)>,
    /// Whether it records a caught panic.
    pub is_panic: bool,
}

impl Captured {
    fn of(reason: ReportReason, error: &CleanupError) -> Self {
        Captured {
            reason,
            label: error.label().map(str::to_owned),
            message: error.error().to_string(),
            site: error.location().map(|l| (l.file().to_owned(), l.line())),
            is_panic: error.is_panic(),
        }
    }
}

/// Runs `body` with a reporter scoped to this thread and returns its result together with
/// every report it produced, in order.
///
/// ```
/// use exitstack::ExitStack;
/// use exitstack_tests::capture_reports;
///
/// let ((), reports) = capture_reports(|| {
///     let stack = ExitStack::new();
///     stack.callback(|| Err("lost")).label("flush");
/// });
/// assert_eq!(reports.len(), 1);
/// assert_eq!(reports[0].label.as_deref(), Some("flush"));
/// ```
pub fn capture_reports<R>(body: impl FnOnce() -> R) -> (R, Vec<Captured>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let result = report::with_reporter(
        move |report: &report::Report<'_>| {
            let captured = Captured::of(report.reason(), report.error());
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(captured);
        },
        body,
    );
    let reports = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    (result, reports)
}

/// The `(file, line)` of the caller: compare it with a [`Captured::site`] or an error's location.
///
/// ```
/// let (file, line) = exitstack_tests::here();
/// assert!(file.ends_with("lib.rs") || file.contains("doctest") || file.ends_with(".rs"));
/// assert!(line > 0);
/// ```
#[track_caller]
pub fn here() -> (String, u32) {
    let location = Location::caller();
    (location.file().to_owned(), location.line())
}

/// The `(file, line)` an error was registered at.
///
/// ```
/// use exitstack::ExitStack;
///
/// let mut stack = ExitStack::new();
/// let (file, line) = exitstack_tests::here(); stack.callback(|| Err("x"));
/// let errors = stack.close().unwrap_err();
/// assert_eq!(exitstack_tests::site_of(errors.first()), Some((file, line)));
/// ```
pub fn site_of(error: &CleanupError) -> Option<(String, u32)> {
    error.location().map(|l| (l.file().to_owned(), l.line()))
}

/// The messages of every error in an unwind's result, in order.
///
/// ```
/// use exitstack::ExitStack;
///
/// let mut stack = ExitStack::new();
/// stack.callback(|| Err("one"));
/// assert_eq!(exitstack_tests::messages(&stack.close().unwrap_err()), ["one"]);
/// ```
pub fn messages(errors: &exitstack::UnwindError) -> Vec<String> {
    errors.iter().map(|e| e.error().to_string()).collect()
}

/// Runs `f` on a thread with a 2 MiB stack (the default for spawned threads, set explicitly),
/// so that recursion per entry would overflow it, and returns what it returns; a panic in `f`
/// fails the caller.
///
/// ```
/// assert_eq!(exitstack_tests::on_small_stack(|| 6 * 7), 42);
/// ```
pub fn on_small_stack<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::Builder::new()
        .name("2 MiB stack".into())
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn a thread with a 2 MiB stack")
        .join()
        .expect("the body on the 2 MiB stack panicked")
}

/// The name libtest gives the test function `function` of the module whose `module_path!()` is
/// `module_path`, as `--exact` wants it when a test re-runs itself in a child process: the
/// module path without the crate (the test binary), e.g. `panics::the_test` in `semantics`.
pub fn test_name(module_path: &str, function: &str) -> String {
    match module_path.split_once("::") {
        Some((_binary, path)) => format!("{path}::{function}"),
        None => function.to_owned(),
    }
}
