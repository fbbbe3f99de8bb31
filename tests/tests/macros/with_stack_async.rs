//! `#[with_stack]` on `async fn`: the body gets an `AsyncExitStack`, unwound (awaiting async
//! entries) with the function's real return value.

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

use exitstack_tests::thread_log::{log, taken};

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
    stack.push_async_callback(|| async { Err::<(), _>("async cleanup failed") });
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
    stack.callback(|| Err("flush failed"));
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

/// `impl Trait` in the `Ok` type: the hidden type is inferred from the body.
#[with_stack(stack)]
async fn evens(limit: u32, fail: bool) -> Result<impl Iterator<Item = u32>, Error> {
    stack.push_async_callback(|| async {
        tokio::task::yield_now().await;
        log("evens cleaned up");
    });
    defer!(stack => |err| { log(format!("evens saw {err}")); });
    tokio::task::yield_now().await;
    if fail {
        return Err(Error("no evens".to_owned()));
    }
    Ok((0..limit).filter(|n| n % 2 == 0))
}

/// The `send` form, through an alias with a default error type (as `anyhow::Result<T>`).
mod alias {
    pub type Result<T> = std::result::Result<T, super::Error>;
}

#[with_stack(stack, send)]
async fn shown(value: u32, cleanup_fails: bool) -> alias::Result<impl fmt::Display + Send> {
    stack.push_async_callback(|| async { log("shown cleaned up") });
    if cleanup_fails {
        stack.push_async_callback(|| async { Err::<(), _>("async cleanup failed") });
    }
    tokio::task::yield_now().await;
    Ok(value * 2)
}

#[tokio::test]
async fn a_result_of_impl_trait_is_returned_async() {
    assert_eq!(
        evens(7, false).await.unwrap().collect::<Vec<_>>(),
        [0, 2, 4, 6]
    );
    assert_eq!(taken(), ["evens cleaned up"]);
    assert_eq!(evens(7, true).await.err().unwrap().0, "no evens");
    assert_eq!(taken(), ["evens saw no evens", "evens cleaned up"]);

    assert_eq!(
        tokio::spawn(shown(4, false))
            .await
            .unwrap()
            .unwrap()
            .to_string(),
        "8"
    );
    assert_eq!(taken(), ["shown cleaned up"]);
    // A cleanup error after `Ok` becomes the function's error, as for any `Result`.
    let error = shown(4, true).await.err().unwrap();
    assert_eq!(error.0, "cleanup: cleanup failed: async cleanup failed");
    assert_eq!(taken(), ["shown cleaned up"]);
}
