//! `defer!(stack => async { .. })` and `stack_callback!(stack, async f, args..)`: async cleanups
//! on an `AsyncExitStack`, in one LIFO order with the sync ones, awaited by `aclose`, reported
//! (not run) when the stack is dropped.

use exitstack::report::ReportReason;
use exitstack::{defer, stack_callback, AsyncExitStack};
use exitstack_tests::{capture_reports, Log};

#[tokio::test(flavor = "multi_thread")]
async fn async_and_sync_deferred_blocks_run_in_one_lifo_order() {
    let log = Log::new();
    let mut stack = AsyncExitStack::new();
    let first = log.clone();
    defer!(stack => move { first.push("sync, registered first") });
    let second = log.clone();
    defer!(stack => async {
        tokio::task::yield_now().await;
        second.push("async, registered second");
    });
    let third = log.clone();
    defer!(stack => on_error move { third.push("error-only: not run on aclose") });
    stack.aclose().await.unwrap();
    assert_eq!(
        log.entries(),
        ["async, registered second", "sync, registered first"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_handle_of_an_async_deferred_block_can_cancel_it() {
    let log = Log::new();
    let mut stack = AsyncExitStack::new();
    let cancelled = log.clone();
    let handle = defer!(stack => async { cancelled.push("cancelled: never runs") });
    handle.cancel();
    stack.aclose().await.unwrap();
    assert!(log.entries().is_empty());
}

#[test]
fn an_async_deferred_block_of_a_dropped_stack_is_reported_not_run() {
    let log = Log::new();
    let ran = log.clone();
    let ((), reports) = capture_reports(|| {
        let stack = AsyncExitStack::new();
        defer!(stack => async { ran.push("must not run without aclose") });
        drop(stack);
    });
    assert!(log.entries().is_empty());
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].reason, ReportReason::AsyncNotRun);
}

async fn close_connection(log: Log, id: u32) -> Result<(), String> {
    tokio::task::yield_now().await;
    log.push(format!("closed connection {id}"));
    if id == 2 {
        return Err(format!("connection {id} reset"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn stack_callback_async_evaluates_arguments_now_and_awaits_the_call_later() {
    let log = Log::new();
    let mut stack = AsyncExitStack::new();
    let mut id = 1;
    stack_callback!(stack, async close_connection, log.clone(), id);
    id += 1; // evaluated at registration: the first call still gets 1
    stack_callback!(stack, async close_connection, log.clone(), id).label("second");
    stack_callback!(stack, |n: u32| log.push(format!("sync {n}")), 3);
    let errors = stack.aclose().await.unwrap_err();
    assert_eq!(
        log.entries(),
        ["sync 3", "closed connection 2", "closed connection 1"]
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("second"));
    assert_eq!(errors.first().error().to_string(), "connection 2 reset");
}
