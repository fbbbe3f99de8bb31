//! In-process variants of the hostile scenarios that aborted the whole process before the fix
//! (the `hostile` binary runs each in a child process, which Miri cannot spawn). After the fix
//! nothing here aborts; they are kept in their own test binary so that, on an engine that still
//! aborts, the abort hides no other test's result. The support module is the `hostile`
//! binary's.

#[path = "hostile/support/mod.rs"]
mod support;

use support::scenarios;

// An async unwind that kept a panic, dropped during another panic.

#[test]
fn a_cancelled_aclose_that_kept_a_panic_dropped_during_a_panic_does_not_abort() {
    scenarios::cancelled_aclose_with_a_kept_panic_dropped_during_a_panic();
}

#[test]
fn a_panicked_scope_future_dropped_during_a_panic_does_not_abort() {
    scenarios::scope_future_dropped_during_a_panic_while_its_unwind_is_pending();
}

// Panic payloads whose `Drop` panics.

#[test]
fn a_stack_dropped_during_a_panic_with_a_bad_payload_does_not_abort() {
    scenarios::sync_stack_with_a_bad_payload_dropped_during_a_panic();
}

#[test]
fn an_async_stack_dropped_during_a_panic_with_bad_payloads_does_not_abort() {
    scenarios::async_stack_with_bad_payloads_dropped_during_a_panic();
}

// An error whose `Display` panics.

#[test]
fn an_error_whose_display_panics_dropped_during_a_panic_does_not_abort_the_default_reporter() {
    scenarios::bad_display_with_the_default_reporter(true);
}

#[test]
fn a_formatting_reporter_that_panics_on_an_error_display_during_a_panic_does_not_abort() {
    scenarios::bad_display_with_a_formatting_reporter(true);
}

// An error whose `Drop` panics, in a stack dropped by a panic.

#[test]
fn a_stack_dropped_during_a_panic_with_an_error_whose_drop_panics_does_not_abort() {
    scenarios::bad_drop_error_dropped_during_a_panic();
}

// Handles used in a `Drop` during a panic.

#[test]
fn handle_run_of_a_panicking_entry_in_a_drop_during_a_panic_does_not_abort() {
    scenarios::handle_run_in_a_drop_during_a_panic();
}

#[test]
fn entered_release_of_a_value_whose_drop_panics_during_a_panic_does_not_abort() {
    scenarios::entered_release_in_a_drop_during_a_panic();
}

#[test]
fn handle_cancel_of_an_entry_whose_drop_panics_during_a_panic_does_not_abort() {
    scenarios::handle_cancel_in_a_drop_during_a_panic();
}

#[test]
fn entered_cancel_of_an_entry_whose_drop_panics_during_a_panic_does_not_abort() {
    scenarios::entered_cancel_in_a_drop_during_a_panic();
}

// A payload that throws a payload that throws ... forever: the engine follows a few rounds,
// reporting each, then forgets the last payload instead of dropping it. Forgetting leaks it on
// purpose, so this is skipped under the leak check and Miri (both would rightly flag it).

/// A panic payload whose `Drop` panics with another payload of its kind, without end.
struct Rethrows(u32);

impl Drop for Rethrows {
    fn drop(&mut self) {
        std::panic::panic_any(Rethrows(self.0 + 1));
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "forgets a payload on purpose: Miri's leak check would flag it"
)]
fn a_payload_that_rethrows_forever_is_followed_a_few_rounds_then_forgotten() {
    if std::env::var_os("EXITSTACK_LEAK_CHECK").is_some() {
        return; // forgets a payload on purpose: valgrind would rightly report it
    }
    let ((), seen) = support::capture(|| {
        support::during_a_panic(|| {
            let stack = exitstack::ExitStack::new();
            stack
                .callback(|| std::panic::panic_any(Rethrows(0)))
                .label("rethrows");
        });
    });
    let reasons = support::reasons(&seen);
    let dropped = &reasons[1..];
    assert_eq!(
        reasons[0],
        exitstack::report::ReportReason::PanicDuringPanic
    );
    assert_eq!(dropped.len(), 4, "four rounds of payload drops: {seen:?}");
    assert!(dropped.iter().all(|r| *r == support::PAYLOAD_DROP_PANICKED));
    assert!(
        seen.iter().all(|s| s.label.as_deref() == Some("rethrows")),
        "{seen:?}"
    );
    let last = seen
        .last()
        .and_then(|s| s.message.as_deref())
        .unwrap_or_default();
    assert!(
        last.contains("forgotten"),
        "the last report says it was forgotten: {last}"
    );
}
