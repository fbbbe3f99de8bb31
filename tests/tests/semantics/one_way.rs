//! One registration per kind: each takes a cleanup returning `()` or a `Result`, the error-only
//! and exit-handler forms included, sync and async; the value of a scope comes out with one `?`
//! into `io::Result`, `anyhow::Result` and a thiserror enum, and a suppressed error stays
//! distinguishable; a `RollbackError` converts into `anyhow::Error` whatever its error type.

use std::cell::RefCell;
use std::io;

use exitstack::{AsyncExitStack, Ending, ExitStack, Flow, RollbackError, ScopeError, UnwindError};
use exitstack_tests::executor::block_on;

fn messages(errors: &UnwindError) -> Vec<String> {
    errors.iter().map(|e| e.error().to_string()).collect()
}

#[test]
fn every_sync_registration_takes_an_infallible_or_a_fallible_cleanup() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    stack.callback(|| log.borrow_mut().push("callback"));
    stack.callback(|| Err::<(), _>("callback failed"));
    stack.guard(1, |n| {
        log.borrow_mut().push(if n == 1 { "guard" } else { "?" })
    });
    stack.guard(2, |_| Err::<(), _>(io::Error::other("guard failed")));
    stack.callback_on_success(|| Err::<(), _>("success-only failed"));
    stack.callback_on_error(|| Err::<(), _>("never runs: the stack closes"));
    stack.callback_with_stack(|_| Err::<(), _>("with stack failed"));
    let errors = stack.close().unwrap_err();
    assert_eq!(
        messages(&errors),
        [
            "with stack failed",
            "success-only failed",
            "guard failed",
            "callback failed"
        ]
    );
    assert_eq!(*log.borrow(), ["guard", "callback"]);
}

#[test]
fn a_fallible_error_only_cleanup_runs_on_failure_and_its_error_is_kept() {
    let result = ExitStack::scope(|stack| {
        stack.callback_on_error(|| Err::<(), _>("rollback failed"));
        Err::<(), _>(io::Error::from(io::ErrorKind::InvalidData))
    });
    let error = result.unwrap_err();
    assert_eq!(
        error.body_error().unwrap().kind(),
        io::ErrorKind::InvalidData
    );
    assert_eq!(
        messages(error.cleanup_errors().unwrap()),
        ["rollback failed"]
    );
}

#[test]
fn an_exit_handler_returns_flow_unit_or_a_result_of_either() {
    let seen = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    stack.push_exit(|_| Err::<Flow, _>("handler failed with a flow type"));
    stack.push_exit(|exit| Flow::suppress_if(exit.error().is_some()));
    stack.push_exit(|exit| seen.borrow_mut().push(exit.errors().count()));
    stack.push_exit(|_| Err::<(), _>("handler failed"));
    stack.push_exit(|_| Ok::<(), &str>(()));
    let errors = stack.close().unwrap_err();
    assert_eq!(messages(&errors), ["handler failed with a flow type"]);
    assert_eq!(*seen.borrow(), [1]);
}

#[test]
fn a_cleanup_that_only_panics_is_accepted_and_its_panic_resumed_after_the_others() {
    let ran = RefCell::new(0);
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut stack = ExitStack::new();
        stack.callback(|| *ran.borrow_mut() += 1);
        stack.callback(|| panic!("only panics"));
        stack.push_exit(|_| panic!("handler only panics"));
        let _ = stack.close();
    }));
    let payload = resumed.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"handler only panics"));
    assert_eq!(*ran.borrow(), 1);
}

#[test]
fn every_async_registration_takes_an_infallible_or_a_fallible_cleanup() {
    let errors = block_on(async {
        let mut stack = AsyncExitStack::new();
        stack.push_async_callback(|| async {});
        stack.push_async_callback(|| async { Err::<(), _>("async callback failed") });
        stack.async_guard(3, |_| async { Err::<(), _>("async guard failed") });
        stack.push_async_exit(|_| async { Err::<(), _>("async handler failed") });
        stack.push_async_exit(|_| async {});
        stack.callback(|| Err::<(), _>("sync on the async stack failed"));
        stack.aclose().await.unwrap_err()
    });
    assert_eq!(
        messages(&errors),
        [
            "sync on the async stack failed",
            "async handler failed",
            "async guard failed",
            "async callback failed"
        ]
    );
}

#[test]
fn the_async_stack_has_the_sync_registrations_in_one_order() {
    let log = std::sync::Mutex::new(Vec::new());
    block_on(async {
        let mut stack = AsyncExitStack::new();
        stack.enter(defer_push(&log, "enter"));
        stack.guard((), |()| log.lock().unwrap().push("guard"));
        stack.push_async_callback(|| async { log.lock().unwrap().push("async") });
        stack.callback_on_success(|| log.lock().unwrap().push("on success"));
        stack.callback_on_error(|| log.lock().unwrap().push("on error: skipped"));
        let inner = ExitStack::new();
        inner.callback(|| log.lock().unwrap().push("pushed stack"));
        stack.push_stack(inner);
        assert!(!stack.is_empty());
        stack.aclose().await.unwrap();
    });
    assert_eq!(
        *log.lock().unwrap(),
        ["pushed stack", "on success", "async", "guard", "enter"]
    );
}

/// A value that records its drop.
fn defer_push<'l>(
    log: &'l std::sync::Mutex<Vec<&'static str>>,
    what: &'static str,
) -> impl Drop + 'l {
    struct Pushes<'l>(&'l std::sync::Mutex<Vec<&'static str>>, &'static str);
    impl Drop for Pushes<'_> {
        fn drop(&mut self) {
            self.0.lock().unwrap().push(self.1);
        }
    }
    Pushes(log, what)
}

fn length_io(fail_cleanup: bool) -> io::Result<usize> {
    let len = ExitStack::scope(|stack| {
        if fail_cleanup {
            stack.callback(|| Err::<(), _>("flush failed"));
        }
        Ok::<_, io::Error>(4)
    })?;
    Ok(len)
}

#[test]
fn the_value_of_a_scope_comes_out_with_one_question_mark_into_io_result() {
    assert_eq!(length_io(false).unwrap(), 4);
    let error = length_io(true).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::Other);
    assert!(error.to_string().contains("flush failed"), "{error}");
}

fn length_anyhow(fail_body: bool) -> anyhow::Result<usize> {
    let len = ExitStack::scope(|stack| {
        stack.callback(|| Err::<(), _>("close failed"));
        if fail_body {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        Ok(4)
    })?;
    Ok(len)
}

#[test]
fn the_value_of_a_scope_comes_out_with_one_question_mark_into_anyhow() {
    let error = length_anyhow(false).unwrap_err();
    assert_eq!(format!("{error:#}"), "cleanup failed: close failed");
    let error = length_anyhow(true).unwrap_err();
    let scope = error.downcast_ref::<ScopeError<io::Error>>().unwrap();
    assert_eq!(scope.body_error().unwrap().kind(), io::ErrorKind::NotFound);
    assert_eq!(messages(scope.cleanup_errors().unwrap()), ["close failed"]);
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("scope failed")]
    Scope(#[from] ScopeError<io::Error>),
}

fn length_thiserror() -> Result<usize, AppError> {
    let len = ExitStack::scope(|stack| {
        stack.callback(|| Err::<(), _>("unlink failed"));
        Ok::<_, io::Error>(4)
    })?;
    Ok(len)
}

#[test]
fn the_value_of_a_scope_comes_out_with_one_question_mark_into_a_thiserror_enum() {
    let AppError::Scope(scope) = length_thiserror().unwrap_err();
    assert!(scope.body_error().is_none());
    assert_eq!(messages(scope.cleanup_errors().unwrap()), ["unlink failed"]);
}

#[test]
fn a_suppressed_body_error_is_an_error_that_says_it_was_suppressed() {
    let ending = RefCell::new(None);
    let error = ExitStack::scope(|stack| {
        stack.push_exit(|exit| {
            ending.replace(Some(exit.ending()));
        });
        stack.push_exit(|exit| Flow::suppress_if(exit.is_scope_error()));
        Err::<u8, _>(io::Error::from(io::ErrorKind::Interrupted))
    })
    .unwrap_err();
    assert!(error.is_suppressed());
    assert!(error.body_error().is_none());
    assert_eq!(
        error.suppressed_error().unwrap().kind(),
        io::ErrorKind::Interrupted
    );
    assert!(error.to_string().contains("suppressed"), "{error}");
    assert_eq!(*ending.borrow(), Some(Ending::Succeeded));
    let into_io = io::Error::from(error);
    assert_eq!(into_io.kind(), io::ErrorKind::Interrupted);
}

#[test]
fn a_suppressed_error_followed_by_a_failing_cleanup_is_not_reported_as_suppressed_only() {
    let error = ExitStack::scope(|stack| {
        stack.callback(|| Err::<(), _>("later cleanup failed"));
        stack.push_exit(|_| Flow::Suppress);
        Err::<u8, _>(io::Error::from(io::ErrorKind::Interrupted))
    })
    .unwrap_err();
    assert!(!error.is_suppressed());
    assert!(error.suppressed_error().is_some());
    assert_eq!(
        messages(error.cleanup_errors().unwrap()),
        ["later cleanup failed"]
    );
}

#[test]
fn the_async_scope_gives_its_value_with_one_question_mark() {
    let value = block_on(async {
        let run = async || -> io::Result<u8> {
            let value = AsyncExitStack::scope(async |stack| {
                stack.push_async_callback(|| async {});
                Ok::<_, io::Error>(9)
            })
            .await?;
            Ok(value)
        };
        run().await
    });
    assert_eq!(value.unwrap(), 9);
}

fn rollback_into_anyhow<E>(error: E, teardown: Option<UnwindError>) -> anyhow::Error
where
    E: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static,
{
    let failed = || -> anyhow::Result<()> { Err(RollbackError::new(error, teardown))? };
    failed().unwrap_err()
}

#[test]
fn a_rollback_error_converts_into_anyhow_whatever_its_error_type() {
    let cause = anyhow::anyhow!("refused").context("connecting");
    let from_anyhow = rollback_into_anyhow(cause, None);
    assert_eq!(format!("{from_anyhow:#}"), "connecting: refused");

    let teardown = UnwindError::from_errors(vec![exitstack::CleanupError::new("flush failed")]);
    let from_io = rollback_into_anyhow(io::Error::from(io::ErrorKind::NotFound), teardown);
    let text = format!("{from_io:#}");
    assert!(
        text.contains("then rolling back failed: cleanup failed: flush failed"),
        "{text}"
    );
    assert_eq!(text.matches("flush failed").count(), 1, "{text}");

    let from_string = rollback_into_anyhow(String::from("plain text"), None);
    assert_eq!(from_string.to_string(), "plain text");
}
