//! Two-phase release (`push_async_graceful`) and the stack-wide grace period
//! (`aclose_within`), on tokio's paused clock: no real time, nothing flaky.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use exitstack::report::{self, Report, ReportReason};
use exitstack::{AsyncExitStack, Phase, PhaseError, TimedOutError};

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, line: impl Into<String>) {
    log.lock().unwrap().push(line.into());
}

fn lines(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

fn phase_of(error: &exitstack::CleanupError) -> Option<Phase> {
    error
        .error()
        .downcast_ref::<PhaseError>()
        .map(PhaseError::phase)
}

fn is_timeout(error: &exitstack::CleanupError) -> bool {
    error.error().downcast_ref::<TimedOutError>().is_some()
}

/// Awaits `future`, turning a panic into `Err` (the stack is not `Send`: no `tokio::spawn`).
async fn caught<F: Future>(future: F) -> std::thread::Result<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    })
    .await
}

const SEC: Duration = Duration::from_secs(1);

/// Registers a two-phase entry named `name` whose graceful phase sleeps `graceful` seconds
/// (forever if `None`), logging each phase.
fn two_phase(
    stack: &AsyncExitStack<'static>,
    log: &Log,
    name: &'static str,
    graceful: Option<u64>,
) {
    let (g, f) = (log.clone(), log.clone());
    stack.push_async_graceful(
        name.to_owned(),
        async move |value: &mut String| {
            push(&g, format!("graceful {value}"));
            match graceful {
                Some(secs) => tokio::time::sleep(SEC * secs as u32).await,
                None => std::future::pending().await,
            }
            value.push_str(" (closed)");
        },
        move |value: String| push(&f, format!("forceful {value}")),
    );
}

#[tokio::test(start_paused = true)]
async fn graceful_success_drops_the_value_and_never_calls_forceful() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    two_phase(&stack, &log, "a", Some(1));
    stack.aclose().await.unwrap();
    assert_eq!(lines(&log), ["graceful a"]);
}

#[tokio::test(start_paused = true)]
async fn forceful_runs_on_the_value_when_the_stack_time_limit_cuts_graceful_off() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new().with_time_limit(2 * SEC, tokio::time::sleep);
    let (g, f) = (log.clone(), log.clone());
    let mut conn = stack.push_async_graceful(
        vec![1],
        async move |value: &mut Vec<i32>| {
            value.push(2);
            push(&g, "graceful started");
            std::future::pending::<()>().await
        },
        move |value: Vec<i32>| {
            push(&f, format!("forceful {value:?}"));
            Err::<(), _>("reset")
        },
    );
    conn.push(0);
    let started = tokio::time::Instant::now();
    let errors = stack.aclose().await.unwrap_err();
    assert_eq!(started.elapsed(), 2 * SEC);
    assert_eq!(lines(&log), ["graceful started", "forceful [1, 0, 2]"]);
    assert_eq!(errors.len(), 2);
    assert!(is_timeout(errors.first()));
    assert_eq!(
        phase_of(errors.iter().nth(1).unwrap()),
        Some(Phase::Forceful)
    );
    assert_eq!(
        errors.iter().nth(1).unwrap().error().to_string(),
        "forceful release failed: reset"
    );
}

#[tokio::test(start_paused = true)]
async fn graceful_error_then_forceful_error_are_both_kept_and_labelled() {
    let mut stack = AsyncExitStack::new();
    stack
        .push_async_graceful(
            (),
            async |_: &mut ()| Err::<(), _>("no goodbye"),
            |()| Err::<(), _>("no reset"),
        )
        .label("conn");
    let errors = stack.aclose().await.unwrap_err();
    let phases: Vec<_> = errors.iter().map(phase_of).collect();
    assert_eq!(phases, [Some(Phase::Graceful), Some(Phase::Forceful)]);
    assert!(errors.iter().all(|e| e.label() == Some("conn")));
    assert_eq!(
        errors.to_string(),
        "2 cleanups failed\n  1: cleanup `conn` failed: graceful release failed: no goodbye\n  \
         2: cleanup `conn` failed: forceful release failed: no reset"
    );
}

#[tokio::test(start_paused = true)]
async fn a_graceful_panic_runs_forceful_then_the_panic_goes_on_after_every_entry() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    let l = log.clone();
    stack.callback(move || push(&l, "earlier entry ran"));
    let f = log.clone();
    stack.push_async_graceful(
        7,
        async |_: &mut i32| panic!("graceful panics"),
        move |value: i32| push(&f, format!("forceful {value}")),
    );
    let result = caught(async move { stack.aclose().await }).await;
    let panic = result.unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"graceful panics"));
    assert_eq!(lines(&log), ["forceful 7", "earlier entry ran"]);
}

#[tokio::test(start_paused = true)]
async fn a_forceful_panic_after_a_timeout_is_the_entry_panic_and_the_rest_still_runs() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new().with_time_limit(SEC, tokio::time::sleep);
    let l = log.clone();
    stack.callback(move || push(&l, "earlier entry ran"));
    stack.push_async_graceful(
        (),
        async |_: &mut ()| std::future::pending::<()>().await,
        |()| -> () { panic!("forceful panics") },
    );
    let result = caught(async move { stack.aclose().await }).await;
    let panic = result.unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"forceful panics"));
    assert_eq!(lines(&log), ["earlier entry ran"]);
}

#[test]
fn forceful_runs_in_drop_for_a_stack_dropped_before_or_during_graceful() {
    let log = Log::default();
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    report::with_reporter(
        move |r: &Report<'_>| {
            sink.lock()
                .unwrap()
                .push((r.reason(), r.error().to_string()))
        },
        || {
            let mut stack = AsyncExitStack::new();
            let f = log.clone();
            stack.push_async_graceful(
                "never started",
                async |_: &mut &str| {},
                move |v: &str| {
                    push(&f, format!("forceful {v}"));
                    Err::<(), _>("gone")
                },
            );
            two_phase(&stack, &log, "in flight", None);
            // Poll the close once: the in-flight entry starts, then the stack is dropped.
            let mut closing = Box::pin(stack.aclose());
            assert!(closing
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending());
            drop(closing);
            drop(stack);
        },
    );
    assert_eq!(
        lines(&log),
        [
            "graceful in flight",
            "forceful in flight",
            "forceful never started"
        ]
    );
    let reasons: Vec<_> = reasons.lock().unwrap().iter().map(|(r, _)| *r).collect();
    assert_eq!(
        reasons,
        [
            ReportReason::AsyncNotRun,
            ReportReason::DropOutsideStack,
            ReportReason::AsyncNotRun
        ]
    );
}

#[test]
fn cancelling_a_graceful_entry_gives_the_value_back_without_forceful() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    let f = log.clone();
    let entry = stack.push_async_graceful(
        5,
        async |_: &mut i32| {},
        move |_: i32| push(&f, "forceful"),
    );
    assert_eq!(entry.cancel(), 5);
    let mut closing = Box::pin(stack.aclose());
    let closed = closing
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()));
    assert!(matches!(closed, Poll::Ready(Ok(()))));
    drop(closing);
    drop(stack);
    assert!(lines(&log).is_empty());
}

#[tokio::test(start_paused = true)]
async fn graceful_grace_period_forces_what_is_left_and_keeps_every_error() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    let l = log.clone();
    stack.callback(move || push(&l, "sync ran"));
    two_phase(&stack, &log, "last", Some(1)); // never started: the grace is over
    stack.push_async_callback(|| async { panic!("never started, never polled") });
    two_phase(&stack, &log, "stuck", None);
    two_phase(&stack, &log, "quick", Some(1));
    let started = tokio::time::Instant::now();
    let errors = stack
        .aclose_within(3 * SEC, tokio::time::sleep)
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), 3 * SEC);
    assert_eq!(
        lines(&log),
        [
            "graceful quick",
            "graceful stuck",
            "forceful stuck",
            "forceful last",
            "sync ran"
        ]
    );
    // The in-flight entry and the two never started each timed out.
    assert_eq!(errors.len(), 3);
    assert!(errors.iter().all(is_timeout));
    assert!(stack.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_grace_that_is_not_needed_waits_for_nothing_more() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    two_phase(&stack, &log, "a", Some(1));
    two_phase(&stack, &log, "b", Some(1));
    let started = tokio::time::Instant::now();
    stack
        .aclose_within(10 * SEC, tokio::time::sleep)
        .await
        .unwrap();
    assert_eq!(started.elapsed(), 2 * SEC);
    assert_eq!(lines(&log), ["graceful b", "graceful a"]);
}

#[tokio::test(start_paused = true)]
async fn a_grace_timer_that_panics_forces_everything_at_once_then_panics() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    two_phase(&stack, &log, "a", Some(1));
    let result = caught(async move {
        stack
            .aclose_within(SEC, |_| -> std::future::Ready<()> {
                panic!("timer panics")
            })
            .await
    })
    .await;
    let panic = result.unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"timer panics"));
    assert_eq!(lines(&log), ["forceful a"]);
}

#[tokio::test(start_paused = true)]
async fn a_grace_cancelled_midway_is_resumed_by_aclose_each_phase_once() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    two_phase(&stack, &log, "a", Some(5));
    let cut = tokio::time::timeout(SEC, stack.aclose_within(10 * SEC, tokio::time::sleep)).await;
    assert!(cut.is_err());
    stack.aclose().await.unwrap();
    assert_eq!(lines(&log), ["graceful a"]);
}

/// A future that is pending forever and counts its polls (to check nothing is polled after a
/// grace ends).
struct Counted(Arc<Mutex<usize>>);
impl Future for Counted {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        *self.0.lock().unwrap() += 1;
        Poll::Pending
    }
}

#[tokio::test(start_paused = true)]
async fn graceful_future_is_never_polled_after_the_grace() {
    let polls = Arc::new(Mutex::new(0));
    let mut stack = AsyncExitStack::new();
    let p = polls.clone();
    stack.push_async_graceful((), async move |_: &mut ()| Counted(p).await, |()| {});
    let errors = stack
        .aclose_within(SEC, tokio::time::sleep)
        .await
        .unwrap_err();
    assert_eq!(errors.len(), 1);
    let after = *polls.lock().unwrap();
    tokio::time::sleep(10 * SEC).await;
    assert_eq!(*polls.lock().unwrap(), after);
}
