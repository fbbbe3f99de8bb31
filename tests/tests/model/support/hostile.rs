//! Hostile values the programs throw at the stacks (payloads whose `Drop` panics, errors whose
//! `Display` or `Drop` panics), the switches that turn each on, and how the harness survives
//! them: formatting and dropping inside `catch_unwind`, reading panic messages, and a panic hook
//! that stays quiet about the panics the programs raise on purpose.

use super::Id;

// Hostile values: each generator can be switched off on its own (to keep the suite green while
// an engine bug it finds is open, see the final report of the helper that added them).

/// Entries panic with payloads whose `Drop` panics ([`Beh::PanicBadPayload`]).
pub const HOSTILE_PAYLOADS: bool = true;
/// Entries fail with errors whose `Display` panics ([`Beh::FailBadDisplay`]).
pub const HOSTILE_DISPLAY: bool = true;
/// Entries fail with errors whose `Drop` panics ([`Beh::FailBadDrop`]).
pub const HOSTILE_ERROR_DROP: bool = true;
/// The reporter panics on one of its reports ([`Hostile::reporter_panics_at`]).
pub const HOSTILE_REPORTER: bool = true;
/// `enter`ed values whose `Drop` builds, fills and cancels stacks borrowing its locals.
pub const BORROWING_DROPS: bool = true;
/// Handles run now or cancelled inside a `Drop` that runs during a panic ([`Op::InPanic`]).
pub const HANDLES_IN_PANIC: bool = true;
/// Async stacks whose time limit's timer panics when started ([`Hostile::timer_panics`]).
pub const PANICKING_TIMER: bool = true;

/// A payload whose `Drop` panics with `payload-drop-{id}`.
pub struct BadPayload(pub Id);

impl Drop for BadPayload {
    fn drop(&mut self) {
        panic!("payload-drop-{}", self.0);
    }
}

/// An error whose `Display` panics with `display-{id}`.
#[derive(Debug)]
pub struct BadDisplay(pub Id);

impl std::fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("display-{}", self.0)
    }
}

impl std::error::Error for BadDisplay {}

/// An error (displayed `err-{id}`) whose `Drop` panics with `error-drop-{id}`.
#[derive(Debug)]
pub struct BadDrop(pub Id);

impl std::fmt::Display for BadDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "err-{}", self.0)
    }
}

impl std::error::Error for BadDrop {}

impl Drop for BadDrop {
    fn drop(&mut self) {
        panic!("error-drop-{}", self.0);
    }
}

/// What the test harness writes for a value whose `Display` panicked.
pub const DISPLAY_PANICKED: &str = "<display panicked>";

/// Formats `value`, or [`DISPLAY_PANICKED`] if its `Display` panics.
pub fn shown(value: &dyn std::fmt::Display) -> String {
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| value.to_string()));
    text.unwrap_or_else(|payload| {
        settle(payload);
        DISPLAY_PANICKED.to_owned()
    })
}

/// Formats a cleanup error, or, if its `Display` panics, [`DISPLAY_PANICKED`] and its label.
pub fn shown_error(error: &exitstack::CleanupError) -> String {
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| error.to_string()));
    text.unwrap_or_else(|payload| {
        settle(payload);
        shown_failure(error.label())
    })
}

/// What [`shown_error`] writes for an error labelled `label` whose `Display` panicked.
pub fn shown_failure(label: Option<&str>) -> String {
    format!("{DISPLAY_PANICKED} {label:?}")
}

/// Drops `value` inside `catch_unwind` (a hostile `Drop` must not unwind into the harness).
pub fn drop_quietly<T>(value: T) {
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value)));
    if let Err(payload) = dropped {
        settle(payload);
    }
}

/// Drops every error of `errors` on its own, inside `catch_unwind`. Not `drop_quietly(errors)`:
/// a `Vec` whose element's `Drop` panics drops the rest while unwinding, and a second such
/// `Drop` then aborts the process, `catch_unwind` or not.
pub fn drop_errors_quietly(errors: exitstack::UnwindError) {
    for error in errors {
        drop_quietly(error);
    }
}

/// The message of a caught panic (see [`panic_message`]); the payload is dropped safely.
pub fn settle(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = panic_message(&*payload);
    if let Err(more) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)))
    {
        settle(more);
    }
    message
}

/// The message of a panic payload; `bad-payload-{id}` for a [`BadPayload`].
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(BadPayload(id)) = payload.downcast_ref::<BadPayload>() {
        format!("bad-payload-{id}")
    } else if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic>".to_owned()
    }
}

/// Silences the default panic hook for the panics the programs raise on purpose (thousands of
/// them); any other panic (a failed assertion) is still printed.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = panic_message(info.payload());
            let planned = [
                "panic-",
                "bad-payload-",
                "payload-drop-",
                "display-",
                "error-drop-",
                "err-force-",
            ]
            .iter()
            .any(|prefix| message.starts_with(prefix))
                || ["reporter-panic", "timer-panic"].contains(&message.as_str())
                || message.ends_with(" panicked");
            if !planned && message != "body-panic" && message != "outer" {
                default(info);
            }
        }));
    });
}
