//! Calls into values the library does not own, made where their panics cannot escape.
//!
//! The engine runs while something already went wrong, often inside a `Drop` during a panic,
//! where one more panic aborts the process. So the values it did not write are handled only
//! through these functions: dropping a value or a panic payload, and formatting an error.
//! A panic payload is itself such a value: its `Drop` may panic too (rust-lang/rust#86027).

use std::any::Any;
use std::fmt::{self, Display, Write as _};
use std::panic::{self, AssertUnwindSafe};

use crate::error::{CleanupError, PanicError};
use crate::report::{self, ReportReason};
use crate::site::Site;

/// A caught panic.
pub(crate) type Payload = Box<dyn Any + Send>;

/// How many payloads deep `drop_payload` follows payloads thrown by payloads' drops before it
/// forgets the last one: each round needs yet another hostile `Drop`, so this is never reached
/// by accident, and it keeps the loop finite against a payload that rethrows itself forever.
const PAYLOAD_ROUNDS: usize = 4;

/// Drops `value`, returning the panic of its `Drop`, if any.
pub(crate) fn drop_caught<T>(value: T) -> Option<Payload> {
    panic::catch_unwind(AssertUnwindSafe(move || drop(value))).err()
}

/// Drops a panic payload that will not be resumed. If its `Drop` panics, that panic is reported
/// (`ReportReason::PayloadDropPanicked`) and its own payload dropped the same way; past a few
/// rounds the last payload is forgotten (leaked) rather than dropped, and that is reported too.
pub(crate) fn drop_payload(payload: Payload, site: Option<&Site>) {
    let mut next = payload;
    for round in 1..=PAYLOAD_ROUNDS {
        let Some(thrown) = drop_caught(next) else {
            return;
        };
        let mut error = CleanupError::new(PayloadDropPanicked {
            panic: PanicError::from_payload(&*thrown),
            forgotten: round == PAYLOAD_ROUNDS,
        });
        if let Some(site) = site {
            let (label, location) = site.duplicate().into_parts();
            error.set_site(label, location);
        }
        report::deliver(ReportReason::PayloadDropPanicked, &error);
        next = thrown;
    }
    std::mem::forget(next);
}

/// The error reported when dropping a panic payload panicked.
#[derive(Debug)]
struct PayloadDropPanicked {
    panic: PanicError,
    forgotten: bool,
}

impl Display for PayloadDropPanicked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dropping a panic payload {}", self.panic)?;
        if self.forgotten {
            f.write_str(" (its own payload was forgotten, not dropped)")?;
        }
        Ok(())
    }
}

impl std::error::Error for PayloadDropPanicked {}

/// Formats `value` with `Display`, or says that its `Display` panicked.
pub(crate) fn to_string_caught(value: &dyn Display) -> String {
    let mut text = String::new();
    match panic::catch_unwind(AssertUnwindSafe(|| write!(text, "{value}"))) {
        Ok(Ok(())) => text,
        Ok(Err(fmt::Error)) => DISPLAY_FAILED.to_owned(),
        Err(payload) => {
            drop_payload(payload, None);
            DISPLAY_PANICKED.to_owned()
        }
    }
}

/// What stands for an error whose `Display` panicked.
pub(crate) const DISPLAY_PANICKED: &str = "<the error's Display panicked>";
/// What stands for an error whose `Display` returned an error.
const DISPLAY_FAILED: &str = "<the error's Display failed>";

/// Reports a panic that cannot be resumed, as a [`PanicError`] with the entry's site.
pub(crate) fn report_panic(reason: ReportReason, payload: &(dyn Any + Send), site: Option<&Site>) {
    let mut error = CleanupError::from_panic(payload);
    if let Some(site) = site {
        let (label, location) = site.duplicate().into_parts();
        error.set_site(label, location);
    }
    report::deliver(reason, &error);
}

/// Reports each error, then drops them all. Returns the first panic of an error's `Drop` if the
/// thread is not panicking, for the caller to resume; reports the others.
#[must_use = "a panic of an error's drop must be resumed or reported"]
pub(crate) fn report_and_drop(errors: Vec<CleanupError>, reason: ReportReason) -> Option<Payload> {
    for error in &errors {
        report::deliver(reason, error);
    }
    drop_all(errors)
}

/// Drops every value, each on its own. Returns the first panic of a `Drop` if the thread is not
/// panicking, for the caller to resume; reports the others.
#[must_use = "a panic of a drop must be resumed or reported"]
pub(crate) fn drop_all<T>(values: Vec<T>) -> Option<Payload> {
    let mut first = None;
    for value in values {
        if let Some(payload) = drop_caught(value) {
            if first.is_none() && !std::thread::panicking() {
                first = Some(payload);
            } else {
                report_panic(ReportReason::PanicDuringPanic, &*payload, None);
                drop_payload(payload, None);
            }
        }
    }
    first
}
