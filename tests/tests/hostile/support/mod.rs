//! Shared by the hostile tests (the `hostile` binary and `hostile_aborts.rs`):
//! values that misbehave in the places cleanup code trusts (a panic payload whose `Drop`
//! panics, an error whose `Display` or `Drop` panics, a `Drop` that panics), a reporter that
//! records reports without formatting the error, a minimal executor, and the scenarios that
//! used to abort the process. Each of those runs twice: in a child process (native only, so an
//! abort is seen as a failed exit status) and in process (in `hostile_aborts.rs`, for Miri).

#![allow(dead_code)] // each test binary uses a part of this support module

pub mod scenarios;

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, PoisonError};

use exitstack::report::{self, Report, ReportReason};
#[allow(unused_imports)] // each test binary uses a part of the executor
pub use exitstack_tests::executor::{block_on, caught, poll_once, yield_once};

/// The reason of a panic payload forgotten because its `Drop` panicked. The only name in the
/// hostile tests that the engine before the fix does not have.
pub const PAYLOAD_DROP_PANICKED: ReportReason = ReportReason::PayloadDropPanicked;

/// A panic payload whose own `Drop` panics: raise it with `std::panic::panic_any(BadPayload)`.
/// Zero-sized, so forgetting it leaks no memory (Miri's leak check stays quiet).
pub struct BadPayload;

impl Drop for BadPayload {
    fn drop(&mut self) {
        panic!("payload drop");
    }
}

/// An error whose `Display` panics.
#[derive(Debug)]
pub struct BadDisplay;

impl fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("display");
    }
}

impl Error for BadDisplay {}

/// An error whose `Drop` panics.
#[derive(Debug)]
pub struct BadDrop;

impl fmt::Display for BadDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad drop")
    }
}

impl Error for BadDrop {}

impl Drop for BadDrop {
    fn drop(&mut self) {
        panic!("error drop");
    }
}

/// A value whose `Drop` panics with its message.
pub struct PanicOnDrop(pub &'static str);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("{}", self.0);
    }
}

/// A value whose `Drop` panics with a [`BadPayload`].
pub struct PanicsWithBadPayload;

impl Drop for PanicsWithBadPayload {
    fn drop(&mut self) {
        std::panic::panic_any(BadPayload);
    }
}

/// Runs a closure in its `Drop`: put one in a scope that panics, and the closure runs during
/// that panic.
pub struct RunsInDrop<F: FnMut()>(pub F);

impl<F: FnMut()> Drop for RunsInDrop<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

/// Runs `body` in a `Drop` that runs while a panic with payload `"outer"` unwinds, and checks
/// that this outer panic is the one that comes out (no abort, nothing replaced it).
pub fn during_a_panic(body: impl FnMut()) {
    let result = catch_unwind(AssertUnwindSafe(move || {
        let _runs = RunsInDrop(body);
        panic!("outer");
    }));
    assert_eq!(payload_text(&*result.unwrap_err()), "outer");
}

/// The text of a `&str` or `String` panic payload.
pub fn payload_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<not a string>")
}

/// The text of the panic `body` raises (`<no panic>` if it returns). A [`BadPayload`] comes
/// back as `<BadPayload>` and is forgotten, since dropping it panics (it is zero-sized: nothing
/// leaks).
pub fn panic_of<R>(body: impl FnOnce() -> R) -> String {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(_) => "<no panic>".to_owned(),
        Err(payload) if payload.is::<BadPayload>() => {
            std::mem::forget(payload);
            "<BadPayload>".to_owned()
        }
        Err(payload) => payload_text(&*payload).to_owned(),
    }
}

/// One report, recorded without formatting the error unless that is safe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub reason: ReportReason,
    pub label: Option<String>,
    pub is_panic: bool,
    /// `error().error().to_string()`, or `None` if formatting it panicked.
    pub message: Option<String>,
}

/// Runs `body` with a thread-scoped reporter that records every report.
pub fn capture<R>(body: impl FnOnce() -> R) -> (R, Vec<Seen>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let result = report::with_reporter(
        move |report: &Report<'_>| {
            let error = report.error();
            let message = catch_unwind(AssertUnwindSafe(|| error.error().to_string())).ok();
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Seen {
                    reason: report.reason(),
                    label: error.label().map(str::to_owned),
                    is_panic: error.is_panic(),
                    message,
                });
        },
        body,
    );
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    (result, seen)
}

/// The reasons of `seen`, in order.
pub fn reasons(seen: &[Seen]) -> Vec<ReportReason> {
    seen.iter().map(|s| s.reason).collect()
}

/// `(reason, label, message)` of each report, in order.
pub fn summary(seen: &[Seen]) -> Vec<(ReportReason, Option<&str>, Option<&str>)> {
    seen.iter()
        .map(|s| (s.reason, s.label.as_deref(), s.message.as_deref()))
        .collect()
}

/// The environment variable that names the test a child process runs.
const CHILD: &str = "EXITSTACK_HOSTILE_CHILD";
/// Printed by a child whose scenario finished.
const SURVIVED: &str = "hostile child survived";

/// Runs `scenario` in a child process (this test binary, re-executed with `--exact` on the test
/// `function` of the module `module_path!()` names): in the child, runs it and prints a marker;
/// in the parent, checks that the child exited normally (an abort is a signal, a failed
/// assertion exit code 101) after finishing the scenario, and returns the child's standard
/// error.
pub fn in_child(module_path: &str, function: &str, scenario: impl FnOnce()) -> Option<String> {
    let test = exitstack_tests::test_name(module_path, function);
    let test = test.as_str();
    if std::env::var(CHILD).as_deref() == Ok(test) {
        scenario();
        println!("{SURVIVED}");
        return None;
    }
    let output: Output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the child running `{test}` did not exit normally: {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    assert!(stdout.contains(SURVIVED), "{stdout}\n{stderr}");
    Some(stderr)
}

/// Whether some line of `stderr` starts with `prefix`.
pub fn has_line_starting(stderr: &str, prefix: &str) -> bool {
    stderr.lines().any(|line| line.starts_with(prefix))
}

/// Registers on `stack` an exit handler that logs the ending it sees, then an error-only and a
/// success-only cleanup that log themselves (the sync and async tests of the dropped-by-a-panic
/// rule share it: both stacks have these registrations).
#[allow(unused_macros)] // `hostile_aborts` shares this module and does not use it
macro_rules! record_ending {
    ($stack:expr, $log:expr) => {{
        let (stack, log): (_, &std::cell::RefCell<Vec<String>>) = (&$stack, $log);
        stack.callback_on_success(|| log.borrow_mut().push("on success".to_owned()));
        stack.callback_on_error(|| log.borrow_mut().push("on error".to_owned()));
        stack.push_exit(|exit| log.borrow_mut().push(format!("{:?}", exit.ending())));
    }};
}
#[allow(unused_imports)]
pub(crate) use record_ending;

/// A payload whose `Drop` panics, resumed or not, is reported twice: its panic (caught, with
/// the entry's label), then the panic of its drop.
pub fn assert_bad_payload_reported(seen: &[Seen]) {
    assert_eq!(
        reasons(seen),
        [ReportReason::PanicDuringPanic, PAYLOAD_DROP_PANICKED],
        "{seen:?}"
    );
    assert_eq!(seen[0].label.as_deref(), Some("bad payload"));
    assert!(seen[0].is_panic);
}
