//! `#[with_stack]` on `async fn`: the body gets an `AsyncExitStack`, unwound (awaiting async
//! entries) with the function's real return value.

use std::cell::RefCell;
use std::fmt;

use exitstack::{defer, with_stack, UnwindError};

#[derive(Debug)]
struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Error {}
impl From<UnwindError> for Error {
    fn from(errors: UnwindError) -> Self {
        Error(format!("cleanup: {errors}"))
    }
}

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn log(line: impl Into<String>) {
    LOG.with(|log| log.borrow_mut().push(line.into()));
}

fn taken() -> Vec<String> {
    LOG.with(|log| std::mem::take(&mut *log.borrow_mut()))
}

#[with_stack(stack)]
async fn fetch(fail: bool) -> Result<u32, Error> {
    stack.push_async_callback(|| async {
        tokio::task::yield_now().await;
        log("async cleanup awaited");
    });
    defer!(stack => |err| { log(format!("saw {err}")); });
    defer!(stack => on_error { log("rolled back"); });
    tokio::task::yield_now().await;
    if fail {
        return Err(Error("refused".to_owned()));
    }
    Ok(3)
}

#[tokio::test]
async fn async_handlers_see_the_returned_error() {
    assert_eq!(fetch(false).await.unwrap(), 3);
    assert_eq!(taken(), ["async cleanup awaited"]);
    assert_eq!(fetch(true).await.unwrap_err().0, "refused");
    assert_eq!(
        taken(),
        ["rolled back", "saw refused", "async cleanup awaited"]
    );
}

#[with_stack(stack, send)]
async fn in_a_task() -> Result<u32, Error> {
    stack.try_push_async_callback(|| async { Err::<(), _>("async cleanup failed") });
    tokio::task::yield_now().await;
    Ok(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_form_runs_in_a_spawned_task_and_returns_cleanup_errors() {
    let error = tokio::spawn(in_a_task()).await.unwrap().unwrap_err();
    assert_eq!(error.0, "cleanup: cleanup failed: async cleanup failed");
}

/// A handler suppresses the returned error, then an older cleanup fails.
#[with_stack(stack)]
async fn suppressed_then_cleanup_fails() -> Result<u32, Error> {
    stack.try_callback(|| Err("flush failed"));
    stack.push_exit(|exit| exitstack::Flow::suppress_if(exit.is_scope_error()));
    tokio::task::yield_now().await;
    Err(Error("handled".to_owned()))
}

#[test]
fn a_suppressed_error_is_still_returned_and_later_cleanup_errors_are_reported() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (result, reports) =
        exitstack_tests::capture_reports(|| runtime.block_on(suppressed_then_cleanup_fails()));
    assert_eq!(result.unwrap_err().0, "handled");
    let messages: Vec<&str> = reports.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["flush failed"]);
}
