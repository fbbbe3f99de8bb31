//! The scenarios that aborted the process before the fix. Each is a plain function with its
//! assertions made after the panic is over (an assertion failing inside a `Drop` that runs
//! during a panic would itself abort). The `hostile` binary runs each in a child process,
//! `hostile_aborts.rs` in process.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use exitstack::report::{self, Report, ReportReason};
use exitstack::{AsyncExitStack, ExitStack};

use super::{
    assert_bad_payload_reported, capture, during_a_panic, payload_text, poll_once, reasons,
    summary, yield_once, BadDisplay, BadDrop, BadPayload, PanicOnDrop, PanicsWithBadPayload, Seen,
    PAYLOAD_DROP_PANICKED,
};

/// Sorts reports by reason and label, for rules that fix which reports are made but not in
/// which order.
fn sorted(seen: &[Seen]) -> Vec<(String, Option<String>)> {
    let mut all: Vec<_> = seen
        .iter()
        .map(|s| (format!("{:?}", s.reason), s.label.clone()))
        .collect();
    all.sort();
    all
}

fn expected(reports: &[(ReportReason, Option<&str>)]) -> Vec<(String, Option<String>)> {
    let mut all: Vec<_> = reports
        .iter()
        .map(|(reason, label)| (format!("{reason:?}"), label.map(str::to_owned)))
        .collect();
    all.sort();
    all
}

/// A payload whose `Drop` panics: a stack holding `callback(|| panic_any(BadPayload))`, dropped by
/// a panic: every entry runs, the outer panic goes on, the payload's panic is caught: the cleanup's
/// panic is reported (`PanicDuringPanic`), then its payload, whose drop panicked, is forgotten and
/// reported (`PayloadDropPanicked`).
pub fn sync_stack_with_a_bad_payload_dropped_during_a_panic() {
    let ran = Cell::new(0);
    let (result, seen) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let stack = ExitStack::new();
            stack.callback(|| ran.set(ran.get() + 1));
            stack
                .callback(|| panic_any(BadPayload))
                .label("bad payload");
            stack.callback(|| ran.set(ran.get() + 1));
            panic!("outer");
        }))
    });
    assert_eq!(payload_text(&*result.unwrap_err()), "outer");
    assert_eq!(ran.get(), 2, "both other entries ran");
    assert_bad_payload_reported(&seen);
}

/// An error whose `Display` panics, in a stack dropped without close, with the default
/// reporter (standard error). `during`: dropped by a panic.
pub fn bad_display_with_the_default_reporter(during: bool) {
    let stack = ExitStack::new();
    stack.callback(|| Err(BadDisplay)).label("bad display");
    if during {
        let result = catch_unwind(AssertUnwindSafe(move || {
            let _stack = stack;
            panic!("outer");
        }));
        assert_eq!(payload_text(&*result.unwrap_err()), "outer");
    } else {
        let result = catch_unwind(AssertUnwindSafe(move || drop(stack)));
        assert!(result.is_ok(), "reporting must not panic");
    }
}

/// An error whose `Display` panics, with a user reporter that formats the report: its panic is
/// caught, the reporter was called once, with reason `Dropped`.
pub fn bad_display_with_a_formatting_reporter(during: bool) {
    let calls = Arc::new(AtomicUsize::new(0));
    let reasons = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c, r) = (Arc::clone(&calls), Arc::clone(&reasons));
    let result = report::with_reporter(
        move |report: &Report<'_>| {
            c.fetch_add(1, Ordering::SeqCst);
            r.lock().unwrap().push(report.reason());
            let _ = report.to_string(); // panics: the error's Display does
        },
        || {
            let stack = ExitStack::new();
            stack.callback(|| Err(BadDisplay)).label("bad display");
            catch_unwind(AssertUnwindSafe(move || {
                let _stack = stack;
                if during {
                    panic!("outer");
                }
            }))
        },
    );
    match result {
        Ok(()) => assert!(!during),
        Err(payload) => {
            assert!(during, "a drop outside a panic must not panic");
            assert_eq!(payload_text(&*payload), "outer");
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(*reasons.lock().unwrap(), [ReportReason::Dropped]);
}

/// An error whose `Drop` panics, in a stack dropped by a panic: the error is
/// reported (`Dropped`), then the panic of its drop (`PanicDuringPanic`).
pub fn bad_drop_error_dropped_during_a_panic() {
    let (result, seen) = capture(|| {
        catch_unwind(|| {
            let stack = ExitStack::new();
            stack.callback(|| Err(BadDrop)).label("bad drop");
            panic!("outer");
        })
    });
    assert_eq!(payload_text(&*result.unwrap_err()), "outer");
    assert_eq!(
        reasons(&seen),
        [ReportReason::Dropped, ReportReason::PanicDuringPanic],
        "{seen:?}"
    );
    assert_eq!(seen[0].label.as_deref(), Some("bad drop"));
    assert_eq!(seen[0].message.as_deref(), Some("bad drop"));
    assert!(seen[1].is_panic);
    assert_eq!(seen[1].message.as_deref(), Some("panicked: error drop"));
}

/// A handle used in a `Drop` during a panic: `Handle::release` in a `Drop` running during a panic,
/// on an entry that panics: the panic is reported, `release` returns `Ok(())`, and the entry does
/// not run again.
pub fn handle_run_in_a_drop_during_a_panic() {
    let log = RefCell::new(Vec::new());
    let ((), seen) = capture(|| {
        during_a_panic(|| {
            let mut stack = ExitStack::new();
            let result = stack.callback(|| panic!("entry")).label("entry").release();
            log.borrow_mut().push(format!("run: {result:?}"));
            log.borrow_mut()
                .push(format!("close: {:?}", stack.close().is_ok()));
        });
    });
    assert_eq!(*log.borrow(), ["run: Ok(())", "close: true"]);
    assert_eq!(
        summary(&seen),
        [(
            ReportReason::PanicDuringPanic,
            Some("entry"),
            Some("panicked: entry")
        )]
    );
    assert!(seen[0].is_panic);
}

/// A handle used in a `Drop` during a panic: `Entered::release` in a `Drop` running during a panic,
/// of a value whose `Drop` panics.
pub fn entered_release_in_a_drop_during_a_panic() {
    let log = RefCell::new(Vec::new());
    let ((), seen) = capture(|| {
        during_a_panic(|| {
            let mut stack = ExitStack::new();
            let value = stack.enter(PanicOnDrop("value drop")).label("value");
            let result = value.release();
            log.borrow_mut().push(format!("release: {result:?}"));
            log.borrow_mut()
                .push(format!("close: {:?}", stack.close().is_ok()));
        });
    });
    assert_eq!(*log.borrow(), ["release: Ok(())", "close: true"]);
    assert_eq!(
        summary(&seen),
        [(
            ReportReason::PanicDuringPanic,
            Some("value"),
            Some("panicked: value drop")
        )]
    );
}

/// A handle used in a `Drop` during a panic: `Handle::cancel` in a `Drop` running during a panic,
/// of a callback that owns a value whose `Drop` panics.
pub fn handle_cancel_in_a_drop_during_a_panic() {
    let log = RefCell::new(Vec::new());
    let ((), seen) = capture(|| {
        during_a_panic(|| {
            let mut stack = ExitStack::new();
            let owned = PanicOnDrop("closure drop");
            stack
                .callback(move || drop(owned))
                .label("cancelled")
                .cancel();
            log.borrow_mut().push("cancelled".to_owned());
            log.borrow_mut()
                .push(format!("close: {:?}", stack.close().is_ok()));
        });
    });
    assert_eq!(*log.borrow(), ["cancelled", "close: true"]);
    assert_eq!(
        summary(&seen),
        [(
            ReportReason::PanicDuringPanic,
            Some("cancelled"),
            Some("panicked: closure drop")
        )]
    );
}

/// A handle used in a `Drop` during a panic: `Entered::cancel` in a `Drop` running during a panic,
/// of a guard whose teardown owns a value whose `Drop` panics: the value comes back, the teardown's
/// drop is reported.
pub fn entered_cancel_in_a_drop_during_a_panic() {
    let log = RefCell::new(Vec::new());
    let ((), seen) = capture(|| {
        during_a_panic(|| {
            let mut stack = ExitStack::new();
            let owned = PanicOnDrop("teardown drop");
            let value = stack
                .guard(5u8, move |_| drop(owned))
                .label("guard")
                .cancel();
            log.borrow_mut().push(format!("value: {value}"));
            log.borrow_mut()
                .push(format!("close: {:?}", stack.close().is_ok()));
        });
    });
    assert_eq!(*log.borrow(), ["value: 5", "close: true"]);
    assert_eq!(
        summary(&seen),
        [(
            ReportReason::PanicDuringPanic,
            Some("guard"),
            Some("panicked: teardown drop")
        )]
    );
}

/// An async unwind kept a panic: an `aclose` cancelled with a panic kept and an async entry in
/// flight; the stack is then dropped by another panic. Which of the two reports comes first is not
/// a rule: they are compared as a set.
pub fn cancelled_aclose_with_a_kept_panic_dropped_during_a_panic() {
    let (result, seen) = capture(|| {
        let mut stack = AsyncExitStack::new();
        stack
            .push_async_callback(std::future::pending::<()>)
            .label("pending");
        stack.callback(|| panic!("x")).label("x");
        {
            let mut closing = pin!(stack.aclose());
            assert!(poll_once(closing.as_mut()).is_pending());
        }
        catch_unwind(AssertUnwindSafe(move || {
            let _stack = stack;
            panic!("outer");
        }))
    });
    outer_resumed_kept_panic_reported(result, &seen, "panicked: x");
}

/// The label the report with `message` carries (the rules do not say whether a kept panic
/// keeps its entry's label).
fn seen_label<'s>(seen: &'s [Seen], message: &str) -> Option<&'s str> {
    seen.iter()
        .find(|s| s.message.as_deref() == Some(message))
        .and_then(|s| s.label.as_deref())
}

/// An async unwind kept a panic: an `AsyncExitStack::scope` future whose body panicked, dropped by
/// another panic while its unwind waits on an async entry.
pub fn scope_future_dropped_during_a_panic_while_its_unwind_is_pending() {
    let (result, seen) = capture(|| {
        let mut scope = Box::pin(AsyncExitStack::scope(async |stack| {
            stack
                .push_async_callback(std::future::pending::<()>)
                .label("pending");
            if true {
                panic!("body");
            }
            Ok::<(), std::fmt::Error>(())
        }));
        assert!(poll_once(scope.as_mut()).is_pending());
        catch_unwind(AssertUnwindSafe(move || {
            let _scope = scope;
            panic!("outer");
        }))
    });
    outer_resumed_kept_panic_reported(result, &seen, "panicked: body");
}

/// What the two scenarios above end with: the outer panic is the one that goes on; the panic the
/// async unwind had kept is reported (caught, as a panic), and so is the async entry that never
/// ran.
fn outer_resumed_kept_panic_reported<T>(
    result: Result<T, Box<dyn std::any::Any + Send>>,
    seen: &[Seen],
    kept_message: &str,
) {
    let Err(payload) = result else {
        panic!("the outer panic was not resumed")
    };
    assert_eq!(payload_text(&*payload), "outer");
    assert_eq!(
        sorted(seen),
        expected(&[
            (
                ReportReason::PanicDuringPanic,
                seen_label(seen, kept_message)
            ),
            (ReportReason::AsyncNotRun, Some("pending")),
        ]),
        "{seen:?}"
    );
    let kept = seen
        .iter()
        .find(|s| s.reason == ReportReason::PanicDuringPanic)
        .unwrap();
    assert!(kept.is_panic);
    assert_eq!(kept.message.as_deref(), Some(kept_message));
}

/// Payloads whose `Drop` panics, on `AsyncExitStack`: a sync entry panicking with a `BadPayload`,
/// and an async entry (not run: dropped) whose closure panics with one when dropped, in a stack
/// dropped by a panic.
pub fn async_stack_with_bad_payloads_dropped_during_a_panic() {
    let ran = Cell::new(0);
    let (result, seen) = capture(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let stack = AsyncExitStack::new();
            stack.callback(|| ran.set(ran.get() + 1));
            let owned = PanicsWithBadPayload;
            stack
                .push_async_callback(move || {
                    drop(owned);
                    yield_once()
                })
                .label("async");
            stack.callback(|| panic_any(BadPayload)).label("sync");
            panic!("outer");
        }))
    });
    assert_eq!(payload_text(&*result.unwrap_err()), "outer");
    assert_eq!(ran.get(), 1, "the sync entry ran");
    assert_eq!(
        sorted(&seen),
        expected(&[
            (ReportReason::PanicDuringPanic, Some("sync")),
            (
                PAYLOAD_DROP_PANICKED,
                seen_label_of(&seen, PAYLOAD_DROP_PANICKED, 0)
            ),
            (ReportReason::AsyncNotRun, Some("async")),
            (ReportReason::PanicDuringPanic, Some("async")),
            (
                PAYLOAD_DROP_PANICKED,
                seen_label_of(&seen, PAYLOAD_DROP_PANICKED, 1)
            ),
        ]),
        "{seen:?}"
    );
}

/// The label of the `n`th report with `reason` (the rules do not fix the label of a forgotten
/// payload).
fn seen_label_of(seen: &[Seen], reason: ReportReason, n: usize) -> Option<&str> {
    seen.iter()
        .filter(|s| s.reason == reason)
        .nth(n)
        .and_then(|s| s.label.as_deref())
}
