//! Hostile code around `AsyncExitStack`: a cancelled `aclose` that kept a panic, then dropped
//! during another panic; panic payloads whose `Drop` panics; running a pushed async stack now
//! through its handle; a timer that panics when started; the "dropped by a panic" rule. Driven
//! by a minimal busy-polling executor (no runtime), so Miri runs them. Scenarios that aborted
//! the process before the fix run here in a child process (native only); `hostile_aborts.rs`
//! runs them in process.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::time::Duration;

use exitstack::report::ReportReason;
use exitstack::AsyncExitStack;

use crate::support::scenarios;
use crate::support::{
    block_on, capture, caught, during_a_panic, in_child, payload_text, reasons, record_ending,
    summary, yield_once, BadPayload, PAYLOAD_DROP_PANICKED,
};

// ---- A cancelled `aclose` keeps a panic; the stack is dropped during another panic -----------

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_cancelled_aclose_that_kept_a_panic_dropped_during_a_panic_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "a_cancelled_aclose_that_kept_a_panic_dropped_during_a_panic_does_not_abort_the_process",
        scenarios::cancelled_aclose_with_a_kept_panic_dropped_during_a_panic,
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_panicked_scope_future_dropped_during_a_panic_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "a_panicked_scope_future_dropped_during_a_panic_does_not_abort_the_process",
        scenarios::scope_future_dropped_during_a_panic_while_its_unwind_is_pending,
    );
}

// ---- Panic payloads whose `Drop` panics ------------------------------------------------------

#[test]
fn aclose_runs_every_entry_when_later_panic_payloads_panic_on_drop_and_resumes_the_first() {
    let ran = Cell::new(0);
    let mut stack = AsyncExitStack::new();
    stack.callback(|| ran.set(ran.get() + 1));
    stack.push_async_callback(|| async {
        yield_once().await;
        ran.set(ran.get() + 1);
    });
    stack
        .push_async_callback(|| async {
            yield_once().await;
            panic_any(BadPayload);
        })
        .label("async bad payload");
    stack
        .callback(|| panic_any(BadPayload))
        .label("sync bad payload");
    stack
        .push_async_callback(|| async {
            yield_once().await;
            panic!("first");
        })
        .label("first");
    let (result, seen) = capture(|| block_on(caught(stack.aclose())));
    let ran_by_aclose = ran.get();
    drop(stack);
    let payload = result.unwrap_err();
    assert_eq!(payload_text(&*payload), "first");
    assert_eq!(ran_by_aclose, 2, "every entry ran");
    assert_eq!(
        reasons(&seen),
        [
            ReportReason::PanicDuringPanic,
            PAYLOAD_DROP_PANICKED,
            ReportReason::PanicDuringPanic,
            PAYLOAD_DROP_PANICKED,
        ],
        "{seen:?}"
    );
    assert_eq!(seen[0].label.as_deref(), Some("sync bad payload"));
    assert_eq!(seen[2].label.as_deref(), Some("async bad payload"));
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn an_async_stack_dropped_during_a_panic_with_bad_payloads_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "an_async_stack_dropped_during_a_panic_with_bad_payloads_does_not_abort_the_process",
        scenarios::async_stack_with_bad_payloads_dropped_during_a_panic,
    );
}

// ---- Running a pushed async stack now, through its handle ------------------------------------

#[test]
fn running_a_pushed_async_stack_runs_its_async_and_sync_entries_now_and_only_once() {
    let log = RefCell::new(Vec::new());
    let mut outer = AsyncExitStack::new();
    outer.callback(|| log.borrow_mut().push("outer"));
    let inner = AsyncExitStack::new();
    inner.push_async_callback(|| async {
        yield_once().await;
        log.borrow_mut().push("a");
    });
    inner.push_async_callback(|| async {
        yield_once().await;
        Err("b")
    });
    inner.callback(|| log.borrow_mut().push("c"));
    let run = block_on(outer.push_async_stack(inner).release());
    assert_eq!(
        *log.borrow(),
        ["c", "a"],
        "inner's entries ran now, newest first"
    );
    let errors = run.unwrap_err();
    let messages: Vec<String> = errors.iter().map(|e| e.error().to_string()).collect();
    assert_eq!(messages, ["b"]);
    block_on(outer.aclose()).unwrap();
    assert_eq!(*log.borrow(), ["c", "a", "outer"], "and not again");
}

// ---- A timer that panics when started --------------------------------------------------------

#[test]
fn a_timer_that_panics_when_started_still_lets_every_async_cleanup_finish() {
    let log = RefCell::new(Vec::new());
    let started = Cell::new(0);
    let timer = |_: Duration| -> std::future::Pending<()> {
        started.set(started.get() + 1);
        panic!("timer {}", started.get());
    };
    let mut stack = AsyncExitStack::new().with_time_limit(Duration::from_millis(1), timer);
    for name in ["one", "two", "three"] {
        let log = &log;
        stack.push_async_callback(move || async move {
            yield_once().await;
            yield_once().await;
            log.borrow_mut().push(name);
        });
    }
    let (result, seen) = capture(|| block_on(caught(stack.aclose())));
    drop(stack);
    assert_eq!(
        *log.borrow(),
        ["three", "two", "one"],
        "every cleanup ran to completion"
    );
    assert_eq!(
        payload_text(&*result.unwrap_err()),
        "timer 1",
        "the first panic is resumed"
    );
    // Whether the engine starts the timer again for the next entries is not a rule; each later
    // start that panicked is reported.
    let later: Vec<_> = (2..=started.get())
        .map(|n| {
            (
                ReportReason::PanicDuringPanic,
                Some(format!("panicked: timer {n}")),
            )
        })
        .collect();
    let panics: Vec<_> = summary(&seen)
        .into_iter()
        .map(|(reason, _, message)| (reason, message.map(str::to_owned)))
        .collect();
    assert_eq!(panics, later);
}

// ---- "was this dropped by a panic" -----------------------------------------------------------

/// An async stack whose exit handler records the ending, with an error-only and a success-only
/// cleanup.
fn recording_stack<'l>(log: &'l RefCell<Vec<String>>) -> AsyncExitStack<'l> {
    let stack = AsyncExitStack::new();
    record_ending!(stack, log);
    stack
}

#[test]
fn an_async_stack_made_during_a_panic_and_dropped_normally_sees_panicked() {
    let log = RefCell::new(Vec::new());
    during_a_panic(|| drop(recording_stack(&log)));
    assert_eq!(*log.borrow(), ["Panicked", "on error"]);
}

#[test]
fn an_async_stack_made_during_a_panic_and_dropped_by_a_new_panic_sees_panicked() {
    let log = RefCell::new(Vec::new());
    during_a_panic(|| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _stack = recording_stack(&log);
            panic!("inner");
        }));
    });
    assert_eq!(*log.borrow(), ["Panicked", "on error"]);
}

#[test]
fn an_async_stack_dropped_normally_outside_a_panic_sees_abandoned() {
    let log = RefCell::new(Vec::new());
    drop(recording_stack(&log));
    assert_eq!(*log.borrow(), ["Abandoned", "on error"]);
}
