//! In-process variants of the hostile scenarios that aborted the whole process before the fix
//! (`hostile_sync.rs` and `hostile_async.rs` run each in a child process, which Miri cannot
//! spawn). After the fix nothing here aborts; they are kept in their own test binary so that,
//! on an engine that still aborts, the abort hides no other test's result.

mod hostile_support;

use hostile_support::scenarios;

// Rule 2.

#[test]
fn a_cancelled_aclose_that_kept_a_panic_dropped_during_a_panic_does_not_abort() {
    scenarios::cancelled_aclose_with_a_kept_panic_dropped_during_a_panic();
}

#[test]
fn a_panicked_scope_future_dropped_during_a_panic_does_not_abort() {
    scenarios::scope_future_dropped_during_a_panic_while_its_unwind_is_pending();
}

// Rule 3.

#[test]
fn a_stack_dropped_during_a_panic_with_a_bad_payload_does_not_abort() {
    scenarios::sync_stack_with_a_bad_payload_dropped_during_a_panic();
}

#[test]
fn an_async_stack_dropped_during_a_panic_with_bad_payloads_does_not_abort() {
    scenarios::async_stack_with_bad_payloads_dropped_during_a_panic();
}

// Rule 4.

#[test]
fn an_error_whose_display_panics_dropped_during_a_panic_does_not_abort_the_default_reporter() {
    scenarios::bad_display_with_the_default_reporter(true);
}

#[test]
fn a_formatting_reporter_that_panics_on_an_error_display_during_a_panic_does_not_abort() {
    scenarios::bad_display_with_a_formatting_reporter(true);
}

// Rule 5 (c).

#[test]
fn a_stack_dropped_during_a_panic_with_an_error_whose_drop_panics_does_not_abort() {
    scenarios::bad_drop_error_dropped_during_a_panic();
}

// Rule 6.

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
