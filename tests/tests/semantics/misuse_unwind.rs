//! Misuse during an unwind: entries that register more entries while the stack unwinds (they
//! run next in line, whatever state the unwind is in), and entries that panic while the stack
//! is dropped during another panic (caught and reported, never an abort).
//!
//! `close` or `pop_all` from inside a running entry cannot be written in safe code (they need
//! `&mut` while the entry has `&`); the ui tests prove that with compile-fail cases.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::report::ReportReason;
use exitstack::{ExitStack, Flow};
use exitstack_tests::{capture_reports, messages, Log};

#[derive(Debug, PartialEq, Eq)]
struct BodyError;
impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("body error")
    }
}
impl std::error::Error for BodyError {}

#[test]
fn an_entry_registered_during_unwind_sees_the_pending_error_and_may_suppress_it() {
    let outcome = ExitStack::scope(|stack| {
        stack.callback_with_stack(|stack| {
            stack.push_exit(|exit| {
                assert!(exit.is_scope_error());
                Flow::Suppress
            });
        });
        Err::<(), _>(BodyError)
    })
    .unwrap_err();
    assert!(outcome.is_suppressed());
    assert_eq!(outcome.suppressed_error(), Some(&BodyError));
}

#[test]
fn entries_registered_after_a_panic_still_run_before_it_is_resumed() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("oldest"));
    let l = log.clone();
    stack.callback_with_stack(move |stack| {
        l.push("registering after the panic");
        stack.callback(|| Err("registered error"));
        stack.callback(l.recorder("registered entry"));
    });
    stack.callback(|| panic!("first"));
    let (result, reports) = capture_reports(|| catch_unwind(AssertUnwindSafe(|| stack.close())));
    assert!(result.is_err());
    let expected = ["registering after the panic", "registered entry", "oldest"];
    assert_eq!(log.entries(), expected);
    // The registered entry's error was pending when the panic was resumed: reported.
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].reason, ReportReason::LostToPanic);
    assert_eq!(reports[0].message, "registered error");
    assert!(stack.is_empty());
}

#[test]
fn entries_registered_while_dropped_during_a_panic_run_and_their_panics_are_reported() {
    let log = Log::new();
    let (result, reports) = capture_reports(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let stack = ExitStack::new();
            stack.callback(log.recorder("oldest"));
            let l = log.clone();
            stack.callback_with_stack(move |stack| {
                stack.callback(l.recorder("after the panicking one"));
                stack
                    .callback(|| panic!("registered entry panicked"))
                    .label("late");
            });
            panic!("body");
        }))
    });
    assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"body"));
    assert_eq!(log.entries(), ["after the panicking one", "oldest"]);
    let [report] = &reports[..] else {
        panic!("{reports:?}")
    };
    assert_eq!(report.reason, ReportReason::PanicDuringPanic);
    assert_eq!(report.label.as_deref(), Some("late"));
    assert_eq!(report.message, "panicked: registered entry panicked");
}

#[test]
fn an_entry_that_keeps_registering_itself_unwinds_in_a_loop() {
    const ROUNDS: usize = if cfg!(miri) { 100 } else { 100_000 };
    fn again<'a>(stack: &ExitStack<'a>, left: usize, count: &'a Cell<usize>) {
        count.set(count.get() + 1);
        if left > 0 {
            stack.callback_with_stack(move |stack| again(stack, left - 1, count));
        }
    }
    let count = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let count = Cell::new(0);
            let mut stack = ExitStack::new();
            let count_ref = &count;
            stack.callback_with_stack(move |stack| again(stack, ROUNDS - 1, count_ref));
            stack.close().unwrap();
            count.get()
        })
        .unwrap()
        .join()
        .unwrap();
    assert_eq!(count, ROUNDS);
}

#[test]
fn errors_of_entries_registered_during_unwind_join_the_result_in_order() {
    let mut stack = ExitStack::new();
    stack.callback(|| Err("oldest"));
    stack.callback_with_stack(|stack| {
        stack.callback(|| Err("registered first"));
        stack.callback(|| Err("registered second"));
    });
    stack.callback(|| Err("newest"));
    let errors = stack.close().unwrap_err();
    let expected = ["newest", "registered second", "registered first", "oldest"];
    assert_eq!(messages(&errors), expected);
}

#[test]
fn a_stack_moved_out_with_pop_all_keeps_registering_during_its_own_unwind() {
    let log = Log::new();
    let mut original = ExitStack::new();
    let l = log.clone();
    original.callback_with_stack(move |stack| {
        stack.callback(l.recorder("registered on the moved stack"));
    });
    let mut moved = original.pop_all();
    original.close().unwrap();
    assert!(
        log.entries().is_empty(),
        "the original no longer holds the entry"
    );
    moved.close().unwrap();
    assert_eq!(log.entries(), ["registered on the moved stack"]);
}

#[test]
fn a_panicking_reporter_never_turns_a_report_into_an_abort() {
    let log = Log::new();
    let reporter_log = log.clone();
    let result = exitstack::report::with_reporter(
        move |report: &exitstack::report::Report<'_>| {
            reporter_log.push(report.error().error().to_string());
            panic!("the reporter panicked");
        },
        || {
            catch_unwind(AssertUnwindSafe(|| {
                let stack = ExitStack::new();
                stack.callback(log.recorder("the cleanup after it still ran"));
                stack.callback(|| Err("reported during a panic"));
                panic!("body");
            }))
        },
    );
    // Reaching this line means no abort; the body's panic went on as usual.
    assert_eq!(result.unwrap_err().downcast_ref::<&str>(), Some(&"body"));
    assert_eq!(
        log.entries(),
        ["the cleanup after it still ran", "reported during a panic"]
    );
}
