//! Hostile code around `ExitStack`: drops that cancel stacks while another stack is being
//! discarded, panic payloads and errors that panic when formatted or dropped, handles used in
//! a `Drop` during a panic, deep chains of nested stacks, and the rule for "was this dropped by
//! a panic". Scenarios that aborted the process before the fix run here in a child process
//! (native only); `hostile_aborts.rs` runs them in process (for Miri).

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, panic_any, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Mutex;

use exitstack::report::ReportReason;
use exitstack::{defer, managed, ExitStack, Flow, ManagedField};
use exitstack_tests::on_small_stack;

use crate::support::scenarios;
use crate::support::{
    assert_bad_payload_reported, capture, during_a_panic, has_line_starting, in_child, panic_of,
    reasons, record_ending, summary, BadDisplay, BadDrop, BadPayload, PanicOnDrop,
    PanicsWithBadPayload, RunsInDrop, PAYLOAD_DROP_PANICKED,
};

// ---- What `cancel()` cancelled is released before it returns ------------------------------

/// Reads a borrowed local when dropped; `alive` says whether the local's frame is still there
/// (checked first, so a late drop fails an assertion instead of reading freed stack memory).
struct Reader<'a> {
    value: &'a u64,
    alive: &'a Cell<bool>,
    dropped: &'a Cell<u32>,
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        assert!(
            self.alive.get(),
            "the Reader was dropped after the frame it borrows from returned"
        );
        assert_eq!(*self.value, 7);
        self.dropped.set(self.dropped.get() + 1);
    }
}

/// In its `Drop` (run while another stack's cancelled entries are discarded), cancels a nested
/// stack holding a `Reader` of a local of that `Drop`.
struct Evil<'t> {
    alive: &'t Cell<bool>,
    dropped: &'t Cell<u32>,
}

impl Drop for Evil<'_> {
    fn drop(&mut self) {
        let local = 7u64;
        self.alive.set(true);
        let (s, inner) = (ExitStack::new(), ExitStack::new());
        inner.enter(Reader {
            value: &local,
            alive: self.alive,
            dropped: self.dropped,
        });
        s.push_stack(inner).cancel(); // must drop `inner`'s values before returning
        self.alive.set(false);
    }
}

#[test]
fn a_cancelled_nested_stack_drops_its_values_before_cancel_returns() {
    let (alive, dropped) = (Cell::new(false), Cell::new(0));
    let (outer, n) = (ExitStack::new(), ExitStack::new());
    n.enter(Evil {
        alive: &alive,
        dropped: &dropped,
    });
    outer.push_stack(n).cancel();
    assert_eq!(dropped.get(), 1, "the Reader was dropped once, in time");
}

static ONE_DEEP: Mutex<()> = Mutex::new(());
static TWO_DEEP: Mutex<()> = Mutex::new(());

/// Cancels a stack holding `lock`'s guard, pushed into another, `depth` (1 or 2) deep; returns
/// whether the lock is free right after `cancel()` returns.
fn cancel_guard(lock: &'static Mutex<()>, depth: usize) -> bool {
    let outer = ExitStack::new();
    let inner = ExitStack::new();
    inner.enter(lock.lock().unwrap());
    let pushed = if depth == 2 {
        let middle = ExitStack::new();
        middle.push_stack(inner);
        middle
    } else {
        inner
    };
    outer.push_stack(pushed).cancel();
    lock.try_lock().is_ok()
}

#[test]
fn a_mutex_guard_in_a_cancelled_nested_stack_is_unlocked_when_cancel_returns() {
    assert!(cancel_guard(&ONE_DEEP, 1), "one deep");
    assert!(cancel_guard(&TWO_DEEP, 2), "two deep");
}

static IN_DROP_ONE_DEEP: Mutex<()> = Mutex::new(());
static IN_DROP_TWO_DEEP: Mutex<()> = Mutex::new(());

#[test]
fn a_mutex_guard_cancelled_inside_a_drop_run_by_another_cancel_is_unlocked_when_cancel_returns() {
    let seen = RefCell::new(Vec::new());
    {
        let outer = ExitStack::new();
        let n = ExitStack::new();
        n.enter(RunsInDrop(|| {
            seen.borrow_mut()
                .push(("one deep", cancel_guard(&IN_DROP_ONE_DEEP, 1)));
            seen.borrow_mut()
                .push(("two deep", cancel_guard(&IN_DROP_TWO_DEEP, 2)));
        }));
        outer.push_stack(n).cancel();
    }
    assert_eq!(*seen.borrow(), [("one deep", true), ("two deep", true)]);
}

static AFTER_A_PANIC: Mutex<()> = Mutex::new(());

#[test]
fn after_a_caught_panic_from_one_cancel_the_next_cancel_still_releases_its_guard() {
    let outer = ExitStack::new();
    let first = ExitStack::new();
    first.enter(PanicOnDrop("drop panicked"));
    let cancelled = outer.push_stack(first);
    assert_eq!(panic_of(|| cancelled.cancel()), "drop panicked");
    assert!(cancel_guard(&AFTER_A_PANIC, 1));
}

static AFTER_A_BAD_PAYLOAD: Mutex<()> = Mutex::new(());

#[test]
fn after_a_cancel_whose_drops_panic_with_a_bad_payload_the_next_cancel_still_releases_its_guard() {
    let outer = ExitStack::new();
    let first = ExitStack::new();
    first.enter(PanicsWithBadPayload).label("bad payload");
    first.enter(PanicOnDrop("drop panicked")).label("plain");
    let cancelled = outer.push_stack(first);
    let (payload, seen) = capture(|| panic_of(|| cancelled.cancel()));
    assert_eq!(payload, "drop panicked", "the first panic is resumed");
    assert_eq!(
        reasons(&seen),
        [ReportReason::PanicDuringPanic, PAYLOAD_DROP_PANICKED],
        "{seen:?}"
    );
    assert!(
        cancel_guard(&AFTER_A_BAD_PAYLOAD, 1),
        "the second cancel released its guard before returning"
    );
}

/// `full` natively, `miri` under Miri.
fn size(full: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else {
        full
    }
}

/// `depth` stacks, each pushed into the next, each holding a clone of `value`.
fn chain(depth: usize, value: &Rc<()>) -> ExitStack<'static> {
    let mut stack = ExitStack::new();
    for _ in 0..depth {
        let outer = ExitStack::new();
        outer.enter(Rc::clone(value));
        outer.push_stack(stack);
        stack = outer;
    }
    stack
}

#[test]
fn ten_thousand_nested_stacks_cancel_and_drop_on_a_2mib_thread() {
    on_small_stack(|| {
        let depth = size(10_000, 200);
        let value = Rc::new(());
        let outer = ExitStack::new();
        outer.push_stack(chain(depth, &value)).cancel();
        assert_eq!(
            Rc::strong_count(&value),
            1,
            "cancelled: every value dropped"
        );
        drop(chain(depth, &value));
        assert_eq!(Rc::strong_count(&value), 1, "dropped: every value dropped");
    });
}

#[test]
fn ten_thousand_nested_stacks_cancelled_inside_a_drop_are_dropped_before_cancel_returns() {
    on_small_stack(|| {
        let depth = size(10_000, 200);
        let value = Rc::new(());
        let left = Rc::new(Cell::new(usize::MAX));
        let (v, l) = (Rc::clone(&value), Rc::clone(&left));
        let outer = ExitStack::new();
        let n = ExitStack::new();
        n.enter(RunsInDrop(move || {
            let s = ExitStack::new();
            s.push_stack(chain(depth, &v)).cancel();
            l.set(Rc::strong_count(&v) - 2); // the chain's clones still alive
            drop(chain(depth, &v)); // and a chain dropped there unwinds too
        }));
        outer.push_stack(n).cancel();
        assert_eq!(
            left.get(),
            0,
            "every value was dropped before cancel returned"
        );
        assert_eq!(Rc::strong_count(&value), 1);
    });
}

// ---- A panic payload whose own `Drop` panics -------------------------------------------------

#[test]
fn close_runs_every_entry_when_a_later_panic_payload_panics_on_drop_and_resumes_the_first() {
    let ran = Cell::new(0);
    let mut stack = ExitStack::new();
    stack.callback(|| ran.set(ran.get() + 1));
    stack.callback(|| ran.set(ran.get() + 1));
    stack
        .callback(|| panic_any(BadPayload))
        .label("bad payload");
    stack.callback(|| ran.set(ran.get() + 1));
    stack.callback(|| panic!("first")).label("first");
    let (payload, seen) = capture(|| panic_of(|| stack.close()));
    let ran_by_close = ran.get();
    drop(stack);
    assert_eq!(payload, "first");
    assert_eq!(ran_by_close, 3, "close ran every entry, older ones too");
    assert_bad_payload_reported(&seen);
}

#[test]
fn close_resumes_a_first_panic_whose_payload_panics_on_drop() {
    let ran = Cell::new(0);
    let mut stack = ExitStack::new();
    stack.callback(|| ran.set(ran.get() + 1));
    stack.callback(|| panic!("second")).label("second");
    stack.callback(|| ran.set(ran.get() + 1));
    stack
        .callback(|| panic_any(BadPayload))
        .label("bad payload");
    let (result, seen) = capture(|| catch_unwind(AssertUnwindSafe(|| stack.close())));
    let payload = result.unwrap_err();
    let is_bad_payload = payload.downcast_ref::<BadPayload>().is_some();
    std::mem::forget(payload); // a BadPayload panics when dropped (zero-sized: no leak)
    assert!(is_bad_payload, "the first panic, a BadPayload, is resumed");
    assert_eq!(ran.get(), 2);
    assert_eq!(
        summary(&seen),
        [(
            ReportReason::PanicDuringPanic,
            Some("second"),
            Some("panicked: second")
        )]
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_stack_dropped_during_a_panic_with_a_bad_payload_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "a_stack_dropped_during_a_panic_with_a_bad_payload_does_not_abort_the_process",
        scenarios::sync_stack_with_a_bad_payload_dropped_during_a_panic,
    );
}

// ---- An error whose `Display` panics ---------------------------------------------------------

#[test]
fn a_dropped_stack_with_an_error_whose_display_panics_does_not_panic_with_the_default_reporter() {
    scenarios::bad_display_with_the_default_reporter(false);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn an_error_whose_display_panics_reaches_stderr_from_a_drop_outside_a_panic() {
    let stderr = in_child(
        module_path!(),
        "an_error_whose_display_panics_reaches_stderr_from_a_drop_outside_a_panic",
        || scenarios::bad_display_with_the_default_reporter(false),
    );
    if let Some(stderr) = stderr {
        assert!(has_line_starting(&stderr, "exitstack:"), "{stderr}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn an_error_whose_display_panics_reaches_stderr_from_a_drop_during_a_panic() {
    let stderr = in_child(
        module_path!(),
        "an_error_whose_display_panics_reaches_stderr_from_a_drop_during_a_panic",
        || scenarios::bad_display_with_the_default_reporter(true),
    );
    if let Some(stderr) = stderr {
        assert!(has_line_starting(&stderr, "exitstack:"), "{stderr}");
    }
}

#[test]
fn a_formatting_reporter_that_panics_on_an_error_display_is_caught_outside_a_panic() {
    scenarios::bad_display_with_a_formatting_reporter(false);
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_report_whose_reporter_panicked_on_the_error_display_still_reaches_stderr() {
    let stderr = in_child(
        module_path!(),
        "a_report_whose_reporter_panicked_on_the_error_display_still_reaches_stderr",
        || scenarios::bad_display_with_a_formatting_reporter(false),
    );
    if let Some(stderr) = stderr {
        assert!(has_line_starting(&stderr, "exitstack:"), "{stderr}");
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_formatting_reporter_that_panics_on_an_error_display_during_a_panic_does_not_abort() {
    let stderr = in_child(
        module_path!(),
        "a_formatting_reporter_that_panics_on_an_error_display_during_a_panic_does_not_abort",
        || scenarios::bad_display_with_a_formatting_reporter(true),
    );
    if let Some(stderr) = stderr {
        assert!(has_line_starting(&stderr, "exitstack:"), "{stderr}");
    }
}

#[test]
fn a_scope_error_whose_display_panics_loses_to_the_cleanup_panic_and_is_reported() {
    let (payload, seen) = capture(|| {
        panic_of(|| {
            ExitStack::scope(|stack| {
                stack.callback(|| panic!("cleanup"));
                Err::<(), _>(BadDisplay)
            })
        })
    });
    assert_eq!(payload, "cleanup", "the cleanup's panic is resumed");
    assert_eq!(reasons(&seen), [ReportReason::LostToPanic], "{seen:?}");
    assert_eq!(seen[0].label.as_deref(), Some("scope body"));
}

// ---- An error whose `Drop` panics ------------------------------------------------------------

#[test]
fn suppressing_an_error_whose_drop_panics_runs_every_entry_then_resumes_that_panic() {
    let ran = Cell::new(0);
    let mut stack = ExitStack::new();
    stack.callback(|| ran.set(ran.get() + 1));
    stack.callback(|| ran.set(ran.get() + 1));
    stack.push_exit(|exit| {
        assert!(exit.error().is_some(), "the BadDrop error is pending");
        Flow::Suppress
    });
    stack.callback(|| Err(BadDrop)).label("bad drop");
    let (payload, seen) = capture(|| panic_of(|| stack.close()));
    let ran_by_close = ran.get();
    drop(stack);
    assert_eq!(ran_by_close, 2, "close ran every older entry");
    assert_eq!(payload, "error drop");
    assert!(seen.is_empty(), "{seen:?}");
}

#[test]
fn a_dropped_stack_reports_an_error_whose_drop_panics_then_propagates_that_panic() {
    let (payload, seen) = capture(|| {
        panic_of(|| {
            let stack = ExitStack::new();
            stack.callback(|| Err(BadDrop)).label("bad drop");
        })
    });
    assert_eq!(payload, "error drop");
    assert_eq!(
        summary(&seen),
        [(ReportReason::Dropped, Some("bad drop"), Some("bad drop"))]
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_stack_dropped_during_a_panic_with_an_error_whose_drop_panics_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "a_stack_dropped_during_a_panic_with_an_error_whose_drop_panics_does_not_abort_the_process",
        scenarios::bad_drop_error_dropped_during_a_panic,
    );
}

// ---- Handles used in a `Drop` during a panic -------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn handle_run_of_a_panicking_entry_in_a_drop_during_a_panic_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "handle_run_of_a_panicking_entry_in_a_drop_during_a_panic_does_not_abort_the_process",
        scenarios::handle_run_in_a_drop_during_a_panic,
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn entered_release_of_a_value_whose_drop_panics_during_a_panic_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "entered_release_of_a_value_whose_drop_panics_during_a_panic_does_not_abort_the_process",
        scenarios::entered_release_in_a_drop_during_a_panic,
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn handle_cancel_of_an_entry_whose_drop_panics_during_a_panic_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "handle_cancel_of_an_entry_whose_drop_panics_during_a_panic_does_not_abort_the_process",
        scenarios::handle_cancel_in_a_drop_during_a_panic,
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn entered_cancel_of_an_entry_whose_drop_panics_during_a_panic_does_not_abort_the_process() {
    in_child(
        module_path!(),
        "entered_cancel_of_an_entry_whose_drop_panics_during_a_panic_does_not_abort_the_process",
        scenarios::entered_cancel_in_a_drop_during_a_panic,
    );
}

#[test]
fn handle_run_of_a_panicking_entry_outside_a_panic_propagates_the_panic() {
    let mut stack = ExitStack::new();
    let handle = stack.callback(|| panic!("entry"));
    assert_eq!(panic_of(|| handle.release()), "entry");
    stack.close().unwrap();
    let value = stack.enter(PanicOnDrop("value drop"));
    assert_eq!(panic_of(|| value.release()), "value drop");
    stack.close().unwrap();
}

// ---- `ManagedField::default()` ---------------------------------------------------------------

#[test]
fn field_default_is_field_new_of_the_default() {
    let field = ManagedField::<Vec<u8>>::default();
    assert_eq!(field, ManagedField::new(Vec::new()));
    assert!(field.is_empty(), "derefs to the default value");
    assert_eq!(ManagedField::<u32>::default().into_inner(), 0);
}

/// A resource whose release is logged.
#[derive(Default)]
struct Counter {
    count: u32,
    log: Rc<RefCell<Vec<String>>>,
}

impl Counter {
    fn close(self) -> Result<(), String> {
        self.log.borrow_mut().push(format!("close {}", self.count));
        Ok(())
    }
}

#[derive(Default)]
#[managed]
struct Defaulted {
    #[managed(close = Counter::close)]
    counter: Counter,
    names: Vec<String>,
}

#[test]
fn a_managed_struct_built_with_default_can_be_used_and_closed() {
    let mut value = Defaulted::default();
    assert!(value.names.is_empty());
    value.names.push("used".to_owned());
    value.counter.count += 2;
    let log = Rc::clone(&value.counter.log);
    value.close().unwrap();
    assert_eq!(*log.borrow(), ["close 2"]);
    drop(Defaulted::default()); // dropped without close: torn down too
}

// ---- "was this dropped by a panic" -----------------------------------------------------------

/// A stack whose exit handler records the ending, with an error-only and a success-only
/// cleanup; returns it for the caller to drop.
fn recording_stack<'l>(log: &'l RefCell<Vec<String>>) -> ExitStack<'l> {
    let stack = ExitStack::new();
    record_ending!(stack, log);
    stack
}

#[test]
fn a_stack_made_during_a_panic_and_dropped_normally_sees_panicked() {
    let log = RefCell::new(Vec::new());
    during_a_panic(|| drop(recording_stack(&log)));
    assert_eq!(*log.borrow(), ["Panicked", "on error"]);
}

#[test]
fn a_stack_made_during_a_panic_and_dropped_by_a_new_panic_sees_panicked() {
    let log = RefCell::new(Vec::new());
    during_a_panic(|| {
        let result = catch_unwind(AssertUnwindSafe(|| {
            let _stack = recording_stack(&log);
            panic!("inner");
        }));
        log.borrow_mut()
            .push(crate::support::payload_text(&*result.unwrap_err()).to_owned());
    });
    assert_eq!(*log.borrow(), ["Panicked", "on error", "inner"]);
}

#[test]
fn a_stack_dropped_by_a_panic_sees_panicked_and_one_dropped_normally_sees_abandoned() {
    let log = RefCell::new(Vec::new());
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let _stack = recording_stack(&log);
        panic!("dropped by this panic");
    }));
    drop(recording_stack(&log));
    assert_eq!(
        *log.borrow(),
        ["Panicked", "on error", "Abandoned", "on error"]
    );
}

#[test]
fn a_bare_on_panic_guard_made_during_a_panic_runs_when_a_new_panic_drops_it() {
    let log = RefCell::new(Vec::new());
    during_a_panic(|| {
        let _ = catch_unwind(AssertUnwindSafe(|| {
            defer!(on_panic { log.borrow_mut().push("on panic"); });
            defer!(on_no_panic { log.borrow_mut().push("no panic"); });
            panic!("inner");
        }));
    });
    assert_eq!(*log.borrow(), ["on panic"]);
}

#[test]
fn a_bare_on_panic_guard_made_during_a_panic_and_dropped_normally_runs() {
    let log = RefCell::new(Vec::new());
    during_a_panic(|| {
        defer!(on_panic { log.borrow_mut().push("on panic"); });
        defer!(on_no_panic { log.borrow_mut().push("no panic"); });
    });
    assert_eq!(
        *log.borrow(),
        ["on panic"],
        "unsure: panic-only cleanups run"
    );
}

#[test]
fn a_bare_guard_made_and_dropped_outside_a_panic_runs_on_no_panic_only() {
    let log = RefCell::new(Vec::new());
    {
        defer!(on_panic { log.borrow_mut().push("on panic"); });
        defer!(on_no_panic { log.borrow_mut().push("no panic"); });
    }
    assert_eq!(*log.borrow(), ["no panic"]);
}
