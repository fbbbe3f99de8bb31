//! `AsyncExitStack` without async `Drop` (`SEMANTICS.md`, "Async"): a cancelled `aclose` loses
//! nothing and the next one runs the rest exactly once; a stack dropped without `aclose` runs its
//! sync entries and reports the async ones; the per-entry time limit.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exitstack::report::{self, Report, ReportReason};
use exitstack::{AsyncExitStack, Ending, Flow, NotRunError, TimedOutError};

type Reports = Arc<Mutex<Vec<(ReportReason, String, Option<String>)>>>;

/// Runs `body` with this thread's reports collected.
fn collecting<R>(body: impl FnOnce() -> R) -> (R, Reports) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let result = report::with_reporter(
        move |r: &Report<'_>| {
            let label = r.error().label().map(str::to_owned);
            sink.lock()
                .unwrap()
                .push((r.reason(), r.error().error().to_string(), label));
        },
        body,
    );
    (result, reports)
}

fn counters(n: usize) -> Arc<Vec<AtomicUsize>> {
    Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect())
}

fn counts(c: &[AtomicUsize]) -> Vec<usize> {
    c.iter().map(|a| a.load(Ordering::SeqCst)).collect()
}

/// Entry `i` counts its runs; entry 1 is slow and async.
fn stack_with_slow_middle(runs: &Arc<Vec<AtomicUsize>>) -> AsyncExitStack<'static> {
    let stack = AsyncExitStack::new();
    let r = runs.clone();
    stack.callback(move || {
        r[0].fetch_add(1, Ordering::SeqCst);
    });
    let r = runs.clone();
    stack.push_async_callback(move || async move {
        tokio::time::sleep(Duration::from_millis(1000)).await; // far beyond the timeout
        r[1].fetch_add(1, Ordering::SeqCst);
    });
    let r = runs.clone();
    stack.push_async_callback(move || async move {
        r[2].fetch_add(1, Ordering::SeqCst);
        Err("ran before the cancellation")
    });
    stack
}

#[tokio::test(flavor = "multi_thread")]
async fn cancelled_aclose_is_resumed_by_the_next_and_each_entry_runs_once() {
    let runs = counters(3);
    let mut stack = stack_with_slow_middle(&runs);
    let cut = tokio::time::timeout(Duration::from_millis(20), stack.aclose()).await;
    assert!(cut.is_err(), "the slow entry outlives the timeout");
    assert_eq!(counts(&runs), [0, 0, 1]);
    assert!(
        !stack.is_empty(),
        "the in-flight entry is kept in the stack"
    );

    let errors = stack.aclose().await.unwrap_err();
    assert_eq!(counts(&runs), [1, 1, 1]);
    // The error collected before the cancellation is returned by the aclose that finishes.
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors.first().error().to_string(),
        "ran before the cancellation"
    );
    assert!(stack.is_empty());
    stack.aclose().await.unwrap();
    assert_eq!(counts(&runs), [1, 1, 1]);
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_after_a_cancelled_aclose_reports_the_in_flight_entry_and_runs_sync_ones() {
    let runs = counters(3);
    let mut stack = stack_with_slow_middle(&runs);
    let _ = tokio::time::timeout(Duration::from_millis(20), stack.aclose()).await;
    let ((), reports) = collecting(|| drop(stack));
    assert_eq!(
        counts(&runs),
        [1, 0, 1],
        "sync entry ran, in-flight entry did not"
    );
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 2, "{reports:?}");
    assert_eq!(reports[0].0, ReportReason::AsyncNotRun);
    assert_eq!(reports[0].1, NotRunError.to_string());
    // The error collected before the cancellation has no caller left: reported too.
    assert_eq!(reports[1].0, ReportReason::Dropped);
    assert_eq!(reports[1].1, "ran before the cancellation");
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_without_aclose_runs_sync_entries_and_reports_async_ones() {
    let runs = counters(2);
    let seen_ending = Arc::new(Mutex::new(None));
    let stack = AsyncExitStack::new();
    let r = runs.clone();
    stack.callback(move || {
        r[0].fetch_add(1, Ordering::SeqCst);
    });
    let r = runs.clone();
    let _ = stack
        .push_async_callback(move || async move {
            r[1].fetch_add(1, Ordering::SeqCst);
        })
        .label("flush");
    let seen = seen_ending.clone();
    stack.push_exit(move |exit| {
        *seen.lock().unwrap() = Some(exit.ending());
        Flow::Propagate
    });
    let _ = stack
        .push_async_exit(|_| async { Flow::Propagate })
        .label("rollback");
    let ((), reports) = collecting(|| drop(stack));
    assert_eq!(counts(&runs), [1, 0]);
    assert_eq!(*seen_ending.lock().unwrap(), Some(Ending::Abandoned));
    let reports = reports.lock().unwrap();
    let labels: Vec<_> = reports.iter().map(|r| (r.0, r.2.as_deref())).collect();
    assert_eq!(
        labels,
        [
            (ReportReason::AsyncNotRun, Some("rollback")),
            (ReportReason::AsyncNotRun, Some("flush")),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn drop_never_blocks_a_runtime_thread() {
    // An async entry that could only finish if the dropping thread were free to run it: a
    // blocking drop would deadlock here on a single worker.
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let stack = AsyncExitStack::new();
    stack.push_async_callback(move || async move {
        let _ = rx.await;
    });
    let ((), reports) = collecting(|| drop(stack));
    drop(tx);
    assert_eq!(reports.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn time_limit_cancels_a_slow_entry_and_the_rest_run() {
    let runs = counters(2);
    let mut stack =
        AsyncExitStack::new().with_time_limit(Duration::from_millis(30), tokio::time::sleep);
    let r = runs.clone();
    stack.push_async_callback(move || async move {
        r[0].fetch_add(1, Ordering::SeqCst);
    });
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    let _ = stack
        .push_async_callback(move || async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        })
        .label("stuck");
    let r = runs.clone();
    stack.callback(move || {
        r[1].fetch_add(1, Ordering::SeqCst);
    });
    let started = std::time::Instant::now();
    let errors = stack.aclose().await.unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(counts(&runs), [1, 1]);
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        1,
        "the timed-out future was dropped"
    );
    assert_eq!(errors.len(), 1);
    let error = errors.first();
    assert_eq!(error.label(), Some("stuck"));
    assert_eq!(
        error
            .error()
            .downcast_ref::<TimedOutError>()
            .unwrap()
            .limit(),
        Duration::from_millis(30)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn time_limit_does_not_touch_fast_entries() {
    let mut stack =
        AsyncExitStack::new().with_time_limit(Duration::from_secs(5), tokio::time::sleep);
    let ran = Arc::new(AtomicUsize::new(0));
    for _ in 0..100 {
        let ran = Arc::clone(&ran);
        stack.push_async_callback(move || async move {
            tokio::task::yield_now().await;
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    stack.aclose().await.unwrap();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        100,
        "every fast entry ran to completion"
    );
}

struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scope_dropped_while_unwinding_runs_sync_entries_and_reports_the_rest() {
    let runs = counters(2);
    let r = runs.clone();
    let mut scope = Box::pin(AsyncExitStack::scope(async move |stack| {
        let r0 = r.clone();
        stack.callback(move || {
            r0[0].fetch_add(1, Ordering::SeqCst);
        });
        let r1 = r.clone();
        stack.push_async_callback(move || async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            r1[1].fetch_add(1, Ordering::SeqCst);
        });
        Ok::<_, std::io::Error>(())
    }));
    let cut = tokio::time::timeout(Duration::from_millis(20), &mut scope).await;
    assert!(cut.is_err(), "cut off while awaiting the slow cleanup");
    assert_eq!(counts(&runs), [0, 0]);
    let ((), reports) = collecting(|| drop(scope));
    assert_eq!(counts(&runs), [1, 0]);
    let reports = reports.lock().unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].0, ReportReason::AsyncNotRun);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_registered_after_a_cancelled_aclose_run_after_the_in_flight_one() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut stack = AsyncExitStack::new();
    let o = order.clone();
    stack.callback(move || o.lock().unwrap().push("oldest"));
    let o = order.clone();
    stack.push_async_callback(move || async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        o.lock().unwrap().push("in flight");
    });
    let _ = tokio::time::timeout(Duration::from_millis(10), stack.aclose()).await;
    let o = order.clone();
    stack.callback(move || o.lock().unwrap().push("registered after the cancellation"));
    stack.aclose().await.unwrap();
    assert_eq!(
        *order.lock().unwrap(),
        ["in flight", "registered after the cancellation", "oldest"]
    );
}
