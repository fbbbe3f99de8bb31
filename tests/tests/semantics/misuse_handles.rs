//! Misuse and edge cases of single-entry handles: `Handle::release`, `Handle::cancel`,
//! `Entered::cancel` / `release`, each of which must leave the stack consistent.

use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::{ExitStack, Flow};
use exitstack_tests::{capture_reports, messages, Log};

/// Logs when dropped, to see whether a cancelled closure (and what it captured) was dropped.
struct DropLog(Log, &'static str);
impl Drop for DropLog {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

#[test]
fn run_runs_the_entry_now_returns_its_error_and_it_never_runs_again() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("oldest"));
    let l = log.clone();
    let flush = stack
        .callback(move || {
            l.push("flush");
            Err("flush failed")
        })
        .label("flush");
    stack.callback(log.recorder("newest"));
    let errors = flush.release().unwrap_err();
    assert_eq!(messages(&errors), ["flush failed"]);
    assert_eq!(
        errors.first().label(),
        Some("flush"),
        "the label survives run()"
    );
    assert_eq!(log.take(), ["flush"]);
    stack.close().unwrap();
    assert_eq!(log.take(), ["newest", "oldest"]);
}

#[test]
fn run_propagates_a_panic_and_leaves_the_stack_usable() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("other"));
    let bomb = stack.callback(|| panic!("ran by hand"));
    let payload = catch_unwind(AssertUnwindSafe(|| bomb.release())).unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"ran by hand"));
    stack.close().unwrap();
    assert_eq!(
        log.entries(),
        ["other"],
        "the panicked entry is not run twice"
    );
}

#[test]
fn run_decides_conditional_entries_as_a_close_would() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    let on_success = stack.callback_on_success(log.recorder("on success"));
    on_success.release().unwrap();
    let on_error = stack.callback_on_error(log.recorder("on error"));
    on_error.release().unwrap();
    let l = log.clone();
    let handler = stack.push_exit(move |exit| {
        l.push(format!(
            "handler: {:?}, error {:?}",
            exit.ending(),
            exit.error().is_some()
        ));
        Flow::Suppress
    });
    handler.release().unwrap();
    assert_eq!(
        log.take(),
        ["on success", "handler: Succeeded, error false"]
    );
    assert!(stack.is_empty() || stack.close().is_ok());
    assert!(log.entries().is_empty(), "nothing ran twice");
}

#[test]
fn run_of_a_pushed_stack_runs_its_entries_now() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("outer oldest"));
    let inner = ExitStack::new();
    inner.callback(log.recorder("inner 1"));
    inner.callback(|| Err("inner failed"));
    inner.callback(log.recorder("inner 2"));
    let nested = stack.push_stack(inner);
    stack.callback(log.recorder("outer newest"));
    let errors = nested.release().unwrap_err();
    assert_eq!(messages(&errors), ["inner failed"]);
    assert_eq!(log.take(), ["inner 2", "inner 1"]);
    stack.close().unwrap();
    assert_eq!(log.take(), ["outer newest", "outer oldest"]);
}

#[test]
fn run_of_a_callback_with_stack_leaves_what_it_registers_on_the_stack() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    let l = log.clone();
    let registering = stack.callback_with_stack(move |stack| {
        l.push("registering");
        stack.callback(l.recorder("registered by hand-run entry"));
    });
    stack.callback(log.recorder("newest"));
    registering.release().unwrap();
    assert_eq!(log.take(), ["registering"]);
    stack.close().unwrap();
    assert_eq!(log.take(), ["registered by hand-run entry", "newest"]);
}

#[test]
fn cancel_removes_the_entry_and_drops_its_closure_without_running_it() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("a"));
    let captured = DropLog(log.clone(), "closure dropped");
    let l = log.clone();
    let cancelled = stack.callback(move || {
        let _keep = &captured;
        l.push("cancelled entry ran");
    });
    stack.callback(log.recorder("c"));
    cancelled.cancel();
    assert_eq!(log.take(), ["closure dropped"]);
    stack.close().unwrap();
    assert_eq!(log.take(), ["c", "a"]);
}

#[test]
fn cancelling_every_entry_leaves_nothing_to_run() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    let a = stack.callback(log.recorder("a"));
    let b = stack.callback(log.recorder("b"));
    b.cancel();
    a.cancel();
    stack.close().unwrap();
    assert!(log.entries().is_empty());
    assert!(stack.is_empty());
}

#[test]
fn entered_cancel_gives_the_value_back_and_release_releases_it_now() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    let kept = stack.guard(String::from("kept"), |s| panic!("{s} must not be released"));
    assert_eq!(kept.cancel(), "kept");
    let released = stack.guard(DropLog(log.clone(), "released now"), |value| {
        drop(value);
        Err("release failed")
    });
    assert_eq!(
        messages(&released.release().unwrap_err()),
        ["release failed"]
    );
    assert_eq!(log.take(), ["released now"]);
    let ((), reports) = capture_reports(|| stack.close().unwrap());
    assert!(reports.is_empty());
    assert!(log.entries().is_empty());
}

#[test]
fn a_cancelled_pushed_stack_drops_its_entries_without_running_them() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    let inner = ExitStack::new();
    inner.callback(log.recorder("must not run"));
    inner.enter(DropLog(log.clone(), "value dropped"));
    stack.push_stack(inner).cancel();
    assert_eq!(log.take(), ["value dropped"]);
    stack.close().unwrap();
    assert!(log.entries().is_empty());
}

#[test]
fn a_deep_chain_of_cancelled_stacks_drops_without_recursion() {
    const DEEP: usize = if cfg!(miri) { 100 } else { 100_000 };
    let log = Log::new();
    let l = log.clone();
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut inner = ExitStack::new();
            inner.callback(l.recorder("deepest must not run"));
            for _ in 0..DEEP {
                let level = ExitStack::new();
                level.push_stack(inner);
                inner = level;
            }
            let mut outer = ExitStack::new();
            outer.push_stack(inner).cancel();
            outer.close().unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
    assert!(log.entries().is_empty());
}
