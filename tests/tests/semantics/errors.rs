//! The rules of `SEMANTICS.md`, "Errors" (repository root), and the labels
//! and `#[track_caller]` registration sites that errors carry.

use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::report::error_in_drop;
use exitstack::{CleanupError, Ending, ExitStack, Flow};
use exitstack_tests::{capture_reports, here, messages, site_of, Log};

/// The scope body's own error in these tests.
#[derive(Debug, PartialEq, Eq)]
struct BodyError(&'static str);
impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}
impl std::error::Error for BodyError {}

/// Hands an error to the stack from its `Drop`.
struct FailingDrop(&'static str);
impl Drop for FailingDrop {
    fn drop(&mut self) {
        error_in_drop(CleanupError::new(self.0));
    }
}

#[test]
fn close_returns_every_error_in_the_order_it_happened() {
    let mut stack = ExitStack::new();
    stack.callback(|| Err("1: oldest"));
    stack.guard((), |()| Err("2: guard"));
    stack.enter(FailingDrop("3: from a drop"));
    let mut nested = ExitStack::new();
    nested.callback(|| Err("4b: nested, older"));
    nested.callback(|| Err("4a: nested, newer"));
    stack.callback(move || nested.close());
    stack.push_exit(|_| Err::<Flow, _>("5: exit handler"));
    stack.callback(|| Err("6: newest"));
    let errors = stack.close().unwrap_err();
    let expected = [
        "6: newest",
        "5: exit handler",
        "4a: nested, newer",
        "4b: nested, older",
        "3: from a drop",
        "2: guard",
        "1: oldest",
    ];
    assert_eq!(messages(&errors), expected);
}

#[test]
fn a_failed_scope_returns_its_own_error_and_every_cleanup_error() {
    let error = ExitStack::scope(|stack| {
        stack.callback(|| Err("cleanup b"));
        stack.callback(|| Err("cleanup a"));
        Err::<(), _>(BodyError("body"))
    })
    .unwrap_err();
    assert_eq!(error.body_error(), Some(&BodyError("body")));
    assert_eq!(
        messages(error.cleanup_errors().unwrap()),
        ["cleanup a", "cleanup b"]
    );
    // cpython#102201: the body succeeded, several cleanups failed; none is lost.
    let error = ExitStack::scope(|stack| {
        for message in ["x", "y", "z"] {
            stack.callback(move || Err(message));
        }
        Ok::<_, BodyError>(())
    })
    .unwrap_err();
    assert_eq!(error.body_error(), None);
    assert_eq!(messages(error.cleanup_errors().unwrap()), ["z", "y", "x"]);
}

#[test]
fn errors_carry_their_label_and_registration_site() {
    let mut stack = ExitStack::new();
    let (file, line) = here();
    stack.callback(|| Err("disk full")).label("flush log");
    let unlabelled_site = here();
    stack.guard(1, |_| Err("unlabelled"));
    let mut nested = ExitStack::new();
    let nested_site = here();
    nested.callback(|| Err("inner")).label("inner label");
    let outer_site = here();
    let outer = stack.callback(move || nested.close());
    outer.label("outer label");
    let errors = stack.close().unwrap_err();
    let [inner, unlabelled, flush] = errors.as_slice() else {
        panic!("expected three errors, got {errors:?}");
    };
    assert_eq!(
        (flush.label(), site_of(flush)),
        (Some("flush log"), Some((file.clone(), line + 1)))
    );
    assert_eq!(unlabelled.label(), None);
    assert_eq!(
        site_of(unlabelled),
        Some((unlabelled_site.0, unlabelled_site.1 + 1))
    );
    // A nested stack's errors keep their own label and site, not the outer entry's.
    assert_eq!(inner.label(), Some("inner label"));
    assert_eq!(site_of(inner), Some((nested_site.0, nested_site.1 + 1)));
    assert_ne!(site_of(inner), Some((outer_site.0, outer_site.1 + 1)));
    let column = flush.location().unwrap().column();
    let shown = format!("{flush:#}");
    let registered = format!("{file}:{}:{column}", line + 1);
    assert_eq!(
        shown,
        format!("cleanup `flush log` (registered at {registered}) failed: disk full")
    );
    assert!(file.ends_with("semantics/errors.rs"), "{file}");
}

#[test]
fn handles_report_their_registration_site() {
    let stack = ExitStack::new();
    let (file, line) = here();
    let handle = stack.callback(|| ());
    assert_eq!(
        (handle.location().file(), handle.location().line()),
        (&*file, line + 1)
    );
    let (_, line) = here();
    let entered = stack.enter(5).label("five");
    assert_eq!(entered.location().line(), line + 1);
}

#[test]
fn an_exit_handler_sees_what_is_pending_when_it_runs() {
    let seen = RefCell::new(Vec::new());
    let look = |tag: &'static str| {
        let seen = &seen;
        move |exit: &exitstack::Exit<'_>| {
            let errors: Vec<String> = exit.errors().map(ToString::to_string).collect();
            let latest = exit.error().map(ToString::to_string);
            seen.borrow_mut().push(format!(
                "{tag}: latest={latest:?} all={errors:?} scope={} ending={:?}",
                exit.is_scope_error(),
                exit.ending()
            ));
            Flow::Propagate
        }
    };
    let result = ExitStack::scope(|stack| {
        stack.push_exit(look("last"));
        stack.callback(|| Err("cleanup"));
        stack.push_exit(look("first"));
        Err::<(), _>(BodyError("body"))
    });
    assert!(result.is_err());
    assert_eq!(
        *seen.borrow(),
        [
            r#"first: latest=Some("body") all=["body"] scope=true ending=Failed"#,
            r#"last: latest=Some("cleanup") all=["body", "cleanup"] scope=false ending=Failed"#,
        ]
    );
    seen.borrow_mut().clear();
    let mut stack = ExitStack::new();
    stack.push_exit(look("nothing pending"));
    stack.close().unwrap();
    drop(stack);
    assert_eq!(
        *seen.borrow(),
        [r#"nothing pending: latest=None all=[] scope=false ending=Succeeded"#]
    );
}

#[test]
fn an_exit_handler_sees_a_panic_and_a_drop() {
    let seen = RefCell::new(Vec::new());
    let look = |tag: &'static str| {
        let seen = &seen;
        move |exit: &exitstack::Exit<'_>| {
            let state = (
                exit.is_panicking(),
                matches!(
                    exit.ending(),
                    exitstack::Ending::Abandoned | exitstack::Ending::Panicked
                ),
                exit.ending(),
            );
            seen.borrow_mut().push(format!("{tag}: {state:?}"));
            Flow::Propagate
        }
    };
    {
        let stack = ExitStack::new();
        stack.push_exit(look("dropped"));
    }
    let mut stack = ExitStack::new();
    stack.push_exit(look("after a panicking entry"));
    stack.callback(|| panic!("entry panicked"));
    let _ = catch_unwind(AssertUnwindSafe(|| stack.close()));
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let stack = ExitStack::new();
        stack.push_exit(look("dropped during a panic"));
        panic!("thread panicking");
    }));
    let _ = catch_unwind(AssertUnwindSafe(|| {
        ExitStack::scope(|stack| {
            stack.push_exit(look("scope body panicked"));
            if true {
                panic!("body panicked");
            }
            Ok::<_, BodyError>(())
        })
    }));
    assert_eq!(
        *seen.borrow(),
        [
            "dropped: (false, true, Abandoned)",
            "after a panicking entry: (true, false, Succeeded)",
            "dropped during a panic: (true, true, Panicked)",
            "scope body panicked: (true, true, Panicked)",
        ]
    );
}

#[test]
fn suppressing_clears_everything_pending_and_later_errors_start_afresh() {
    let mut stack = ExitStack::new();
    stack.callback(|| Err("after the suppression"));
    stack.push_exit(|exit| {
        assert_eq!(exit.errors().count(), 2);
        Flow::Suppress
    });
    stack.callback(|| Err("before, older"));
    stack.callback(|| Err("before, newer"));
    let errors = stack.close().unwrap_err();
    assert_eq!(messages(&errors), ["after the suppression"]);

    let outcome = ExitStack::scope(|stack| {
        stack.push_exit(|exit| Flow::suppress_if(exit.errors().count() == 2));
        stack.callback(|| Err("cleanup"));
        Err::<(), _>(BodyError("body"))
    })
    .unwrap_err();
    assert!(outcome.is_suppressed());
    assert_eq!(outcome.suppressed_error(), Some(&BodyError("body")));
}

#[test]
fn a_panic_is_seen_but_never_suppressed() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    let l = log.clone();
    stack.push_exit(move |exit| {
        l.push(format!("saw panic: {}", exit.is_panicking()));
        Flow::Suppress
    });
    stack.callback(|| Err("pending with the panic"));
    stack.callback(|| panic!("not suppressible"));
    let (result, reports) = capture_reports(|| catch_unwind(AssertUnwindSafe(|| stack.close())));
    let payload = result.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"not suppressible"));
    assert_eq!(log.entries(), ["saw panic: true"]);
    // The suppression did clear the error, so nothing is left to report with the panic.
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_scope_tells_completed_failed_and_suppressed_apart() {
    let completed = ExitStack::scope(|_| Ok::<_, BodyError>(42)).unwrap();
    assert_eq!(completed, 42);
    let failed = ExitStack::scope(|_| Err::<u8, _>(BodyError("failed"))).unwrap_err();
    assert_eq!(failed.body_error(), Some(&BodyError("failed")));
    assert!(failed.cleanup_errors().is_none());
    let handled = ExitStack::scope(|stack| {
        stack.push_exit(|exit| Flow::suppress_if(exit.is_scope_error()));
        Err::<u8, _>(BodyError("handled"))
    })
    .unwrap_err();
    assert!(handled.is_suppressed());
    assert_eq!(handled.suppressed_error(), Some(&BodyError("handled")));
    assert!(handled.body_error().is_none());
    // Suppressed, then a later cleanup failed: the suppressed error is kept, not lost.
    let both = ExitStack::scope(|stack| {
        stack.callback(|| Err("later cleanup"));
        stack.push_exit(|_| Flow::Suppress);
        Err::<u8, _>(BodyError("suppressed"))
    })
    .unwrap_err();
    assert_eq!(both.body_error(), None);
    assert_eq!(both.suppressed_error(), Some(&BodyError("suppressed")));
    assert_eq!(messages(both.cleanup_errors().unwrap()), ["later cleanup"]);
}

#[test]
fn ending_is_closed_only_for_success() {
    fn record<'a>(stack: &ExitStack<'a>, endings: &'a RefCell<Vec<Ending>>) {
        stack.push_exit(|exit| {
            endings.borrow_mut().push(exit.ending());
            Flow::Propagate
        });
    }
    let endings = RefCell::new(Vec::new());
    let _ = ExitStack::scope(|stack| {
        record(stack, &endings);
        Ok::<_, BodyError>(())
    });
    let _ = ExitStack::scope(|stack| {
        record(stack, &endings);
        Err::<(), _>(BodyError("x"))
    });
    assert_eq!(*endings.borrow(), [Ending::Succeeded, Ending::Failed]);
}

#[test]
fn once_the_scope_error_is_suppressed_the_rest_unwinds_as_a_success() {
    // The transaction pattern's shape: a rollback registered before a handler that handles the
    // body's error must not run, the commit must; entries after the handler see
    // `Ending::Succeeded`.
    let log = Log::new();
    let outcome = ExitStack::scope(|stack| {
        stack.callback_on_error(log.recorder("rolled back"));
        stack.callback_on_success(log.recorder("committed"));
        let seen = log.clone();
        stack.push_exit(move |exit| {
            seen.push(format!("before suppressing: {:?}", exit.ending()));
            Flow::Propagate
        });
        stack.push_exit(|exit| Flow::suppress_if(exit.is_scope_error()));
        let seen = log.clone();
        stack.push_exit(move |exit| {
            seen.push(format!("first to run: {:?}", exit.ending()));
            Flow::Propagate
        });
        Err::<(), _>(BodyError("handled"))
    })
    .unwrap_err();
    assert!(outcome.is_suppressed());
    assert_eq!(
        log.entries(),
        [
            "first to run: Failed",
            "before suppressing: Succeeded",
            "committed"
        ]
    );
}

#[test]
fn a_pushed_stack_sees_and_may_suppress_the_errors_pending_in_the_outer_unwind() {
    let mut outer = ExitStack::new();
    outer.callback(|| Err("after the nested stack"));
    let inner = ExitStack::new();
    inner.push_exit(|exit| {
        let pending: Vec<String> = exit.errors().map(ToString::to_string).collect();
        assert_eq!(pending, ["outer, newest"]);
        Flow::Suppress
    });
    outer.push_stack(inner);
    outer.callback(|| Err("outer, newest"));
    let errors = outer.close().unwrap_err();
    assert_eq!(messages(&errors), ["after the nested stack"]);
}

#[test]
fn a_stack_closed_by_a_cleanup_unwinds_on_its_own() {
    // Unlike `push_stack`, a stack closed by a cleanup runs its own unwind: its handlers see
    // only its own errors, and what they suppress stays inside it.
    let mut outer = ExitStack::new();
    let mut inner = ExitStack::new();
    inner.push_exit(|exit| {
        assert_eq!(
            exit.errors().count(),
            0,
            "the outer error is not visible here"
        );
        Flow::Suppress
    });
    outer.callback(move || inner.close());
    outer.callback(|| Err("outer error"));
    let errors = outer.close().unwrap_err();
    assert_eq!(messages(&errors), ["outer error"]);
}

/// A context whose `exit` fails.
struct FailingExit;
impl exitstack::Context for FailingExit {
    type Target = ();
    type Error = &'static str;
    fn enter(self) -> Result<(), &'static str> {
        Ok(())
    }
    fn exit((): (), _: &exitstack::Exit<'_>) -> Result<Flow, &'static str> {
        Err("exit failed")
    }
}

/// A value whose `Close` fails.
struct FailingClose;
impl exitstack::Close for FailingClose {
    type Error = &'static str;
    fn close(self) -> Result<(), &'static str> {
        Err("close failed")
    }
}

#[test]
fn every_fallible_registration_records_the_callers_line() {
    let mut stack = ExitStack::new();
    let mut lines = Vec::new();
    lines.push(here().1 + 1);
    stack.callback(|| Err("callback"));
    lines.push(here().1 + 1);
    stack.push_exit(|_| Err::<Flow, _>("push_exit"));
    lines.push(here().1 + 1);
    stack.enter(FailingDrop("enter"));
    lines.push(here().1 + 1);
    stack.enter_closing(FailingClose);
    lines.push(here().1 + 1);
    stack.guard((), |()| Err("guard"));
    lines.push(here().1 + 1);
    stack.enter_context(FailingExit).unwrap();
    let errors = stack.close().unwrap_err();
    let mut seen: Vec<(String, u32)> = errors.iter().map(|e| site_of(e).unwrap()).collect();
    seen.reverse(); // errors come newest first
    let file = here().0;
    let expected: Vec<(String, u32)> = lines.into_iter().map(|l| (file.clone(), l)).collect();
    assert_eq!(seen, expected);
}

#[test]
fn a_returned_cleanup_error_keeps_its_own_label() {
    let mut stack = ExitStack::new();
    stack
        .callback(|| Err(CleanupError::new("inner").with_label("its own label")))
        .label("registration label");
    let (file, line) = here();
    let handle = stack.callback(|| Err(CleanupError::new("unlabelled")));
    handle.label("registration label");
    let errors = stack.close().unwrap_err();
    let [unlabelled, labelled] = errors.as_slice() else {
        panic!("{errors:?}")
    };
    assert_eq!(unlabelled.label(), Some("registration label"));
    assert_eq!(unlabelled.error().to_string(), "unlabelled");
    assert_eq!(site_of(unlabelled), Some((file, line + 1)));
    assert_eq!(labelled.label(), Some("its own label"));
    assert_eq!(labelled.error().to_string(), "inner");
}

/// An error with a cause, as a library's error wraps an `io::Error`.
#[derive(Debug)]
struct Outer(std::io::Error);
impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("flush failed")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

fn chain_of(error: anyhow::Error) -> Vec<String> {
    error.chain().map(ToString::to_string).collect()
}

/// `Display` includes the wrapped error's text, so `source()` is the wrapped error's own source:
/// an `anyhow` chain prints every text once.
#[test]
fn a_chain_never_repeats_what_display_shows() {
    let outer = || Outer(std::io::Error::other("disk full"));
    let one = CleanupError::new(outer()).with_label("flush");
    assert_eq!(
        format!("{:#}", anyhow::Error::from(one)),
        "cleanup `flush` failed: flush failed: disk full"
    );
    assert_eq!(
        chain_of(anyhow::Error::from(CleanupError::new(outer()))),
        ["cleanup failed: flush failed", "disk full"]
    );
    // No source: the chain is the one text.
    assert_eq!(
        chain_of(anyhow::Error::from(CleanupError::new("plain"))),
        ["cleanup failed: plain"]
    );

    let mut stack = ExitStack::new();
    stack.callback(move || Err(outer())).label("flush");
    let errors = stack.close().unwrap_err();
    assert_eq!(
        chain_of(anyhow::Error::from(errors)),
        ["cleanup `flush` failed: flush failed", "disk full"]
    );

    let mut stack = ExitStack::new();
    stack.callback(|| Err("second"));
    stack.callback(move || Err(outer()));
    let errors = stack.close().unwrap_err();
    assert_eq!(
        chain_of(anyhow::Error::from(errors)),
        [
            "2 cleanups failed\n  1: cleanup failed: flush failed\n  2: cleanup failed: second",
            "disk full"
        ]
    );

    // A scope's error: the body's text, then the body's own source.
    let error = ExitStack::scope(|stack| {
        stack.callback(|| Err("close failed"));
        Err::<(), _>(outer())
    })
    .unwrap_err();
    assert_eq!(
        chain_of(anyhow::Error::from(error)),
        [
            "flush failed; then cleanup failed: close failed",
            "disk full"
        ]
    );

    // A rolled-back construction: the acquisition error's text, then the rollback's errors
    // (an `Error` whatever the acquisition error's type, so it cannot reach that error's own
    // source; `error()` does).
    let teardown = exitstack::UnwindError::from_errors(vec![CleanupError::new("close failed")]);
    let rolled = exitstack::RollbackError::new(outer(), teardown);
    assert_eq!(
        std::error::Error::source(rolled.error())
            .unwrap()
            .to_string(),
        "disk full"
    );
    assert_eq!(
        chain_of(anyhow::Error::from(rolled)),
        [
            "flush failed; then rolling back failed",
            "cleanup failed: close failed"
        ]
    );
}

/// A cleanup error is never wrapped in another: no `cleanup failed: cleanup failed: ..`.
#[test]
fn a_cleanup_error_is_never_wrapped_twice() {
    let inner = || CleanupError::new("disk full").with_label("flush");
    assert_eq!(
        CleanupError::new(inner()).to_string(),
        "cleanup `flush` failed: disk full"
    );
    let one = exitstack::UnwindError::from_errors(vec![inner()]).unwrap();
    assert_eq!(
        CleanupError::new(one).to_string(),
        "cleanup `flush` failed: disk full"
    );
    // Returned by a cleanup, closed and reported: the same one text.
    let mut stack = ExitStack::new();
    stack.callback(move || Err(inner()));
    let errors = stack.close().unwrap_err();
    assert_eq!(errors.to_string(), "cleanup `flush` failed: disk full");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&seen);
    exitstack::report::with_reporter(
        move |report: &exitstack::report::Report<'_>| *sink.lock().unwrap() = report.to_string(),
        || {
            let stack = ExitStack::new();
            stack.callback(move || Err(inner()));
        },
    );
    let shown = seen.lock().unwrap().clone();
    assert_eq!(
        shown.matches("failed").count(),
        1,
        "one `failed` in the report: {shown}"
    );
}
