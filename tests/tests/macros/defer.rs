//! `defer!` in every form and `stack_callback!` with paths, closures and method calls.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::{defer, stack_callback, ExitStack, Flow};

#[test]
fn bare_guards_run_at_scope_exit_in_reverse_order() {
    let log = RefCell::new(Vec::new());
    {
        defer! { log.borrow_mut().push("first registered, runs last"); }
        defer!(log.borrow_mut().push("second"));
        log.borrow_mut().push("body");
    }
    assert_eq!(
        *log.borrow(),
        ["body", "second", "first registered, runs last"]
    );
}

#[test]
fn bare_guard_runs_on_early_return_and_panic() {
    let count = Cell::new(0);
    let early = |fail: bool| -> Result<(), &'static str> {
        defer! { count.set(count.get() + 1); }
        if fail {
            return Err("early");
        }
        Ok(())
    };
    early(true).unwrap_err();
    early(false).unwrap();
    assert_eq!(count.get(), 2);
    let _ = catch_unwind(AssertUnwindSafe(|| {
        defer! { count.set(count.get() + 10); }
        panic!("boom");
    }));
    assert_eq!(count.get(), 12);
}

#[test]
fn bare_outcome_variants_follow_panics() {
    let log = RefCell::new(Vec::new());
    let _ = catch_unwind(AssertUnwindSafe(|| {
        defer!(on_panic { log.borrow_mut().push("panic: ran"); });
        defer!(on_no_panic { log.borrow_mut().push("no panic: must not run"); });
        panic!("boom");
    }));
    {
        defer!(on_panic { log.borrow_mut().push("panic: must not run"); });
        defer!(on_no_panic { log.borrow_mut().push("no panic: ran"); });
    }
    assert_eq!(*log.borrow(), ["panic: ran", "no panic: ran"]);
}

/// A bare guard sees panics only: `on_no_panic` runs after a `?` too, which its name says.
#[test]
fn bare_on_no_panic_runs_after_a_question_mark() {
    let log = RefCell::new(Vec::new());
    let fails = || -> Result<(), std::fmt::Error> {
        defer!(on_panic { log.borrow_mut().push("on panic"); });
        defer!(on_no_panic { log.borrow_mut().push("no panic"); });
        Err(std::fmt::Error)?;
        Ok(())
    };
    assert!(fails().is_err());
    assert_eq!(*log.borrow(), ["no panic"]);
}

/// On a stack, `on_panic` / `on_no_panic` mean what they mean on a bare guard, and `on_error`
/// keeps the stack's meaning (a returned error counts).
#[test]
fn stack_on_panic_and_on_no_panic_follow_panics_only() {
    let log = RefCell::new(Vec::new());
    let result = exitstack::ExitStack::scope(|stack| {
        defer!(stack => on_panic { log.borrow_mut().push("on panic"); });
        defer!(stack => on_no_panic { log.borrow_mut().push("no panic"); });
        defer!(stack => on_error { log.borrow_mut().push("on error"); });
        Err::<(), _>(std::fmt::Error)
    });
    assert!(result.is_err());
    assert_eq!(*log.borrow(), ["on error", "no panic"]);
    log.borrow_mut().clear();
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let stack = exitstack::ExitStack::new();
        defer!(stack => on_panic { log.borrow_mut().push("on panic"); });
        defer!(stack => on_no_panic { log.borrow_mut().push("no panic"); });
        panic!("boom");
    }));
    assert_eq!(*log.borrow(), ["on panic"]);
}

#[test]
fn bare_move_form_owns_its_captures() {
    let seen = std::rc::Rc::new(Cell::new(0));
    {
        let seen = std::rc::Rc::clone(&seen);
        defer!(move { seen.set(7); });
    }
    assert_eq!(seen.get(), 7);
}

#[test]
fn stack_forms_register_and_return_the_handle() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    defer!(stack => { log.borrow_mut().push("always"); });
    defer!(stack => on_success { log.borrow_mut().push("success"); });
    defer!(stack => on_error { log.borrow_mut().push("error: must not run"); });
    let cancelled = defer!(stack => { log.borrow_mut().push("cancelled: must not run"); });
    cancelled.cancel();
    stack.close().unwrap();
    assert_eq!(*log.borrow(), ["success", "always"]);
}

#[test]
fn error_only_on_a_stack_runs_when_abandoned() {
    let log = RefCell::new(Vec::new());
    {
        let stack = ExitStack::new();
        defer!(stack => on_error { log.borrow_mut().push("rolled back"); });
        defer!(stack => on_success { log.borrow_mut().push("committed: must not run"); });
    }
    assert_eq!(*log.borrow(), ["rolled back"]);
}

#[test]
fn err_form_receives_the_pending_error() {
    let seen = RefCell::new(Vec::new());
    let result = ExitStack::scope(|stack| {
        defer!(stack => |err| { seen.borrow_mut().push(format!("saw: {err}")); });
        Err::<(), _>(std::fmt::Error)
    });
    assert!(result.unwrap_err().body_error().is_some());
    assert_eq!(
        *seen.borrow(),
        ["saw: an error occurred when formatting an argument"]
    );
    // No error pending: the block does not run.
    let mut stack = ExitStack::new();
    defer!(stack => |err| { seen.borrow_mut().push(format!("unexpected: {err}")); });
    stack.close().unwrap();
    assert_eq!(seen.borrow().len(), 1);
}

#[test]
fn err_form_sees_a_cleanup_error_too() {
    let seen = RefCell::new(None);
    let mut stack = ExitStack::new();
    defer!(stack => |err| { *seen.borrow_mut() = Some(err.to_string()); });
    stack.callback(|| Err("cleanup failed"));
    assert_eq!(stack.close().unwrap_err().len(), 1);
    assert_eq!(seen.borrow().as_deref(), Some("cleanup failed"));
    // An exit handler registered before it can still suppress: the defer block never does.
    let mut stack = ExitStack::new();
    stack.push_exit(|_| Flow::Suppress);
    defer!(stack => |_err| {});
    stack.callback(|| Err("suppressed"));
    assert!(stack.close().is_ok());
}

fn record(log: &RefCell<Vec<String>>, what: &str, n: u32) {
    log.borrow_mut().push(format!("{what} {n}"));
}

fn fails(what: &str) -> Result<(), String> {
    Err(format!("{what} failed"))
}

struct Conn {
    name: String,
}

impl Conn {
    fn shutdown(self, log: &RefCell<Vec<String>>) {
        log.borrow_mut().push(format!("shutdown {}", self.name));
    }
}

#[test]
fn stack_callback_evaluates_arguments_now() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    let mut n = 1;
    stack_callback!(stack, record, &log, "path", n);
    n += 1; // the registered call keeps the value it saw
    stack_callback!(
        stack,
        |what: &str, n: u32| record(&log, what, n),
        "closure",
        n
    );
    let conn = Conn {
        name: "db".to_owned(),
    };
    stack_callback!(stack, conn.shutdown, &log);
    stack.close().unwrap();
    assert_eq!(*log.borrow(), ["shutdown db", "closure 2", "path 1"]);
}

#[test]
fn stack_callback_of_a_fallible_function_joins_the_result() {
    let mut stack = ExitStack::new();
    let handle = stack_callback!(stack, fails, "first");
    let _ = handle.label("labelled");
    stack_callback!(stack, fails, "second");
    let errors = stack.close().unwrap_err();
    let seen: Vec<(Option<&str>, String)> = errors
        .iter()
        .map(|e| (e.label(), e.error().to_string()))
        .collect();
    assert_eq!(
        seen,
        [
            (None, "second failed".to_owned()),
            (Some("labelled"), "first failed".to_owned())
        ]
    );
}

#[test]
fn stack_callback_without_arguments() {
    let ran = Cell::new(false);
    let mut stack = ExitStack::new();
    stack_callback!(stack, || ran.set(true));
    stack.close().unwrap();
    assert!(ran.get());
}
