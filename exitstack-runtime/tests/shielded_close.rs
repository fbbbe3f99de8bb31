//! `aclose_shielded` (feature `tokio`): a close whose future is dropped goes on, on a task of
//! its own, until the same deadline. On tokio's paused clock.
#![cfg(feature = "tokio")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use exitstack::report::{self, Report, ReportReason};
use exitstack::{SendAsyncExitStack, TimedOutError};

const SEC: Duration = Duration::from_secs(1);

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, line: impl Into<String>) {
    log.lock().unwrap().push(line.into());
}

#[tokio::test(start_paused = true)]
async fn shielded_close_awaited_returns_every_error() {
    let mut stack = SendAsyncExitStack::new_send();
    stack.push_async_callback(std::future::pending::<()>); // runs last, never finishes
    stack.push_async_callback(|| async { Err::<(), _>("flush failed") });
    let started = tokio::time::Instant::now();
    let errors = stack.aclose_shielded(3 * SEC).await.unwrap_err();
    assert_eq!(started.elapsed(), 3 * SEC, "bounded by the grace");
    assert_eq!(errors.len(), 2);
    assert_eq!(errors.first().error().to_string(), "flush failed");
    let last = errors.iter().nth(1).unwrap().error();
    assert!(last.downcast_ref::<TimedOutError>().is_some());
    stack = SendAsyncExitStack::new_send();
    assert!(stack.aclose_shielded(SEC).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn shield_keeps_closing_after_the_future_is_dropped_within_the_same_deadline() {
    let log = Log::default();
    let stack = SendAsyncExitStack::new_send();
    let (l, f) = (log.clone(), log.clone());
    stack.callback(move || push(&l, "sync ran"));
    stack.push_async_graceful_send(
        "stuck",
        |_| Box::pin(std::future::pending::<()>()),
        move |name| push(&f, format!("forceful {name}")),
    );
    let (done, finished) = tokio::sync::oneshot::channel();
    stack.push_async_callback(move || async move {
        tokio::time::sleep(2 * SEC).await;
        done.send(tokio::time::Instant::now()).unwrap();
    });
    let started = tokio::time::Instant::now();
    let closing = stack.aclose_shielded(5 * SEC);
    assert!(tokio::time::timeout(SEC, closing).await.is_err());
    // The first entry finishes on the shield's task, 2s after the close started.
    assert_eq!(finished.await.unwrap() - started, 2 * SEC);
    tokio::time::sleep(10 * SEC).await;
    assert_eq!(*log.lock().unwrap(), ["forceful stuck", "sync ran"]);
}

#[test]
fn shield_reports_errors_and_panics_once_nobody_awaits() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    report::with_reporter(
        move |r: &Report<'_>| {
            sink.lock()
                .unwrap()
                .push((r.reason(), r.error().is_panic()))
        },
        || {
            runtime.block_on(async {
                let stack = SendAsyncExitStack::new_send();
                stack.push_async_callback(|| async { panic!("entry panics on the task") });
                stack.push_async_callback(|| async {
                    tokio::time::sleep(2 * SEC).await;
                    Err::<(), _>("late failure")
                });
                // Dropped unpolled: the whole close runs on the task.
                drop(stack.aclose_shielded(5 * SEC));
                tokio::time::sleep(10 * SEC).await;
            })
        },
    );
    let reports = reports.lock().unwrap().clone();
    // The error pending when the entry's panic ended the close, then the panic itself.
    assert_eq!(
        reports,
        [
            (ReportReason::LostToPanic, false),
            (ReportReason::Dropped, true)
        ]
    );
}

#[test]
fn shield_outside_a_runtime_drops_the_stack_as_usual() {
    let log = Log::default();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    report::with_reporter(
        move |r: &Report<'_>| sink.lock().unwrap().push(r.reason()),
        || {
            let stack = SendAsyncExitStack::new_send();
            let l = log.clone();
            stack.callback(move || push(&l, "sync ran"));
            stack.push_async_callback(|| async {});
            drop(stack.aclose_shielded(SEC));
        },
    );
    assert_eq!(*log.lock().unwrap(), ["sync ran"]);
    assert_eq!(*reasons.lock().unwrap(), [ReportReason::AsyncNotRun]);
}

#[tokio::test(start_paused = true)]
async fn shield_dropped_at_every_await_point_runs_each_entry_once() {
    for cut in 0..5u32 {
        let runs = Arc::new(Mutex::new(Vec::new()));
        let stack = SendAsyncExitStack::new_send();
        for n in 0..3u32 {
            let r = runs.clone();
            stack.push_async_callback(move || async move {
                tokio::time::sleep(SEC).await;
                r.lock().unwrap().push(n);
            });
        }
        let closing = stack.aclose_shielded(10 * SEC);
        let _ = tokio::time::timeout(SEC * cut, closing).await;
        tokio::time::sleep(20 * SEC).await;
        assert_eq!(*runs.lock().unwrap(), [2, 1, 0], "cut after {cut}s");
    }
}
