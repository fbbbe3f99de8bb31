//! The rules of `SEMANTICS.md`, "Order" and "Exactly once" (repository root). Unwinding
//! without recursion, at scale, is in the `stress` binary (`stress/scale.rs`).

use std::cell::Cell;
use std::convert::Infallible;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use exitstack::{Context, Exit, ExitStack, Flow};
use exitstack_tests::{capture_reports, Log};

/// Logs when dropped: the release of an `enter`ed value.
struct Dropper(Log, &'static str);
impl Drop for Dropper {
    fn drop(&mut self) {
        self.0.push(self.1);
    }
}

/// Logs when closed: the release of an `enter_closing` value. (`Close` is not imported: in
/// scope, its by-value `close` would shadow `ExitStack::close(&mut self)` for method calls.)
struct Closer(Log, &'static str);
impl exitstack::Close for Closer {
    type Error = Infallible;
    fn close(self) -> Result<(), Infallible> {
        self.0.push(self.1);
        Ok(())
    }
}

/// The error of a failed `enter`.
#[derive(Debug, PartialEq, Eq)]
struct EnterFailed;
impl std::fmt::Display for EnterFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("enter failed")
    }
}
impl std::error::Error for EnterFailed {}

/// A context whose `enter` fails when asked to; `exit` logs.
struct Ctx {
    log: Log,
    name: &'static str,
    fail: bool,
}
impl Context for Ctx {
    type Target = (Log, &'static str);
    type Error = EnterFailed;
    fn enter(self) -> Result<Self::Target, EnterFailed> {
        if self.fail {
            return Err(EnterFailed);
        }
        self.log.push(format!("enter {}", self.name));
        Ok((self.log, self.name))
    }
    fn exit(target: Self::Target, _: &Exit<'_>) -> Result<Flow, EnterFailed> {
        target.0.push(target.1);
        Ok(Flow::Propagate)
    }
}

#[test]
fn every_kind_of_entry_shares_one_lifo_order() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("callback"));
    let l = log.clone();
    stack.callback(move || {
        l.push("callback");
        Ok::<(), Infallible>(())
    });
    let l = log.clone();
    stack.push_exit(move |_| {
        l.push("push_exit");
        Flow::Propagate
    });
    let l = log.clone();
    stack.push_exit(move |_| {
        l.push("push_exit");
        Ok::<_, Infallible>(Flow::Propagate)
    });
    stack.enter(Dropper(log.clone(), "enter"));
    stack.enter_closing(Closer(log.clone(), "enter_closing"));
    stack.guard(log.clone(), |l| l.push("guard"));
    stack.guard(log.clone(), |l| {
        l.push("guard");
        Ok::<(), Infallible>(())
    });
    stack
        .enter_context(Ctx {
            log: log.clone(),
            name: "enter_context",
            fail: false,
        })
        .unwrap();
    let inner = ExitStack::new();
    inner.callback(log.recorder("nested first"));
    inner.callback(log.recorder("nested second"));
    stack.push_stack(inner);
    stack.callback_on_success(log.recorder("callback_on_success"));
    let l = log.clone();
    stack.callback_with_stack(move |_| l.push("callback_with_stack"));
    assert_eq!(log.take(), ["enter enter_context"]);
    stack.close().unwrap();
    let expected = [
        "callback_with_stack",
        "callback_on_success",
        "nested second",
        "nested first",
        "enter_context",
        "guard",
        "guard",
        "enter_closing",
        "enter",
        "push_exit",
        "push_exit",
        "callback",
        "callback",
    ];
    assert_eq!(log.entries(), expected);
}

#[test]
fn drop_and_scope_unwind_in_the_same_order_as_close() {
    let log = Log::new();
    {
        let stack = ExitStack::new();
        for name in ["a", "b", "c"] {
            stack.callback(log.recorder(name));
        }
    }
    assert_eq!(log.take(), ["c", "b", "a"]);
    ExitStack::scope(|stack| {
        stack.enter(Dropper(log.clone(), "a"));
        stack.callback(log.recorder("b"));
        stack.enter_closing(Closer(log.clone(), "c"));
        Ok::<_, std::fmt::Error>(())
    })
    .unwrap();
    assert_eq!(log.take(), ["c", "b", "a"]);
}

#[test]
fn every_entry_runs_exactly_once_whatever_came_before() {
    let runs = [(); 6].map(|()| Cell::new(0));
    let bump = |i: usize| {
        let runs = &runs;
        move || runs[i].set(runs[i].get() + 1)
    };
    let mut stack = ExitStack::new();
    stack.callback(bump(0));
    stack.push_exit(|_| {
        bump(1)();
        Flow::Suppress
    });
    stack.callback(bump(2));
    stack.callback(|| {
        bump(3)();
        Err("failed")
    });
    stack.callback(|| {
        bump(4)();
        panic!("cleanup panicked");
    });
    stack.callback(bump(5));
    let (result, reports) = capture_reports(|| catch_unwind(AssertUnwindSafe(|| stack.close())));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"cleanup panicked"));
    assert!(reports.is_empty(), "the error was suppressed: {reports:?}");
    assert_eq!(runs.each_ref().map(Cell::get), [1; 6]);
    // Nothing runs twice: the stack is empty after the panicking close.
    assert!(stack.is_empty());
    stack.close().unwrap();
    assert_eq!(runs.each_ref().map(Cell::get), [1; 6]);
}

#[test]
fn an_entry_is_removed_before_it_is_called() {
    let seen = Cell::new(None);
    let mut stack = ExitStack::new();
    stack.callback_with_stack(|stack| seen.set(Some(stack.is_empty())));
    stack.close().unwrap();
    assert_eq!(
        seen.get(),
        Some(true),
        "the running entry was still on the stack"
    );
}

#[test]
fn entries_registered_during_unwind_run_next_in_line() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("oldest"));
    let l = log.clone();
    stack.callback_with_stack(move |stack| {
        l.push("registering");
        stack.callback(l.recorder("added first"));
        let l2 = l.clone();
        stack.callback_with_stack(move |stack| {
            l2.push("added second, registering again");
            stack.callback(l2.recorder("added during the added entry"));
        });
    });
    stack.callback(log.recorder("newest"));
    stack.close().unwrap();
    let expected = [
        "newest",
        "registering",
        "added second, registering again",
        "added during the added entry",
        "added first",
        "oldest",
    ];
    assert_eq!(log.entries(), expected);
    assert!(stack.is_empty());
}

#[test]
fn registering_during_drop_and_inside_a_nested_stack_runs_in_the_same_unwind() {
    let log = Log::new();
    {
        let stack = ExitStack::new();
        stack.callback(log.recorder("outer"));
        let inner = ExitStack::new();
        inner.callback(log.recorder("inner oldest"));
        let l = log.clone();
        inner.callback_with_stack(move |stack| {
            stack.callback(l.recorder("added in nested"));
        });
        stack.push_stack(inner);
    } // dropped, not closed
    assert_eq!(log.entries(), ["added in nested", "inner oldest", "outer"]);
}

#[test]
fn pop_all_moves_everything_and_leaves_the_original_usable() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("a"));
    stack.enter(Dropper(log.clone(), "b"));
    let mut moved = stack.pop_all();
    assert!(stack.is_empty());
    assert!(!moved.is_empty());
    stack.callback(log.recorder("registered after pop_all"));
    stack.close().unwrap();
    assert_eq!(log.take(), ["registered after pop_all"]);
    moved.close().unwrap();
    assert_eq!(log.take(), ["b", "a"]);
}

#[test]
fn pop_all_is_cheap() {
    const N: usize = if cfg!(miri) { 1_000 } else { 200_000 };
    let mut stack = ExitStack::new();
    let registering = Instant::now();
    for _ in 0..N {
        stack.callback(|| ());
    }
    let registering = registering.elapsed();
    let moving = Instant::now();
    let mut moved = stack.pop_all();
    let moving = moving.elapsed();
    // Constant time: moving N entries costs far less than registering them one by one.
    assert!(
        moving * 50 < registering,
        "pop_all {moving:?}, push {registering:?}"
    );
    moved.close().unwrap();
}

/// Opens every name (a name starting with `!` fails); all or nothing.
fn acquire_all<'a>(log: &Log, names: &[&'static str]) -> Result<ExitStack<'a>, &'static str> {
    let mut stack = ExitStack::new();
    for &name in names {
        if name.starts_with('!') {
            return Err(name);
        }
        stack.enter(Dropper(log.clone(), name));
    }
    Ok(stack.pop_all())
}

#[test]
fn a_scope_hands_its_resources_over_only_when_everything_succeeded() {
    let log = Log::new();
    assert_eq!(acquire_all(&log, &["a", "b", "!c"]).unwrap_err(), "!c");
    assert_eq!(log.take(), ["b", "a"], "released at once on failure");
    let mut kept = acquire_all(&log, &["a", "b"]).unwrap();
    assert!(log.entries().is_empty(), "kept alive for the caller");
    kept.close().unwrap();
    assert_eq!(log.take(), ["b", "a"]);
}

#[test]
fn close_runs_everything_once_and_the_stack_is_reusable() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("a"));
    stack.callback(|| Err("b failed"));
    assert_eq!(stack.close().unwrap_err().len(), 1);
    assert!(stack.is_empty());
    assert!(stack.close().is_ok(), "a second close does nothing");
    assert_eq!(log.take(), ["a"]);
    stack.callback(log.recorder("second round"));
    stack.close().unwrap();
    stack.close().unwrap();
    assert_eq!(log.take(), ["second round"]);
}

#[test]
fn a_failed_acquisition_registers_nothing_and_earlier_entries_still_run() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("before"));
    let ctx = |name, fail| Ctx {
        log: log.clone(),
        name,
        fail,
    };
    assert_eq!(
        stack.enter_context(ctx("bad", true)).unwrap_err(),
        EnterFailed
    );
    stack.enter_context(ctx("good", false)).unwrap();
    stack.close().unwrap();
    assert_eq!(log.take(), ["enter good", "good", "before"]);

    let failed = ExitStack::scope(|stack| {
        stack.callback(log.recorder("registered before the failure"));
        stack.enter_context(ctx("bad", true))?;
        log.push("not reached");
        Ok(())
    });
    assert_eq!(failed.unwrap_err().body_error(), Some(&EnterFailed));
    assert_eq!(log.take(), ["registered before the failure"]);
}
