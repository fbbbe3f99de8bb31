//! `Ending::Cancelled` (an async scope whose body future is dropped) and closing with an error
//! (`close_with`, `aclose_with`). No runtime, no timer: small enough for Miri.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use exitstack::report::{self, Report, ReportReason};
use exitstack::{AsyncExitStack, Ending, ExitStack, Flow, SendAsyncExitStack};

mod support;
use support::HostileDisplay;

type Log = Arc<Mutex<Vec<String>>>;

fn poll_once<F: Future + ?Sized>(future: Pin<&mut F>) -> Poll<F::Output> {
    future.poll(&mut Context::from_waker(Waker::noop()))
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = poll_once(future.as_mut()) {
            return output;
        }
    }
}

/// Yields once: a future that is pending at its first poll.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
}

fn push(log: &Log, line: impl Into<String>) {
    log.lock().unwrap().push(line.into());
}

fn with_reports<R>(f: impl FnOnce() -> R) -> (R, Vec<ReportReason>) {
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = reasons.clone();
    let result = report::with_reporter(
        move |r: &Report<'_>| sink.lock().unwrap().push(r.reason()),
        f,
    );
    let reasons = reasons.lock().unwrap().clone();
    (result, reasons)
}

#[test]
fn a_cancelled_scope_runs_sync_entries_as_cancelled_and_reports_async_ones() {
    let log: Log = Log::default();
    let l = log.clone();
    let scope = AsyncExitStack::scope(async move |stack| {
        let (a, b, c, d) = (l.clone(), l.clone(), l.clone(), l.clone());
        stack.callback_on_success(move || push(&a, "success-only"));
        stack.callback_on_error(move || push(&b, "error-only"));
        stack.push_async_callback(move || async move { push(&c, "async ran") });
        stack.push_exit(move |exit| {
            push(
                &d,
                format!("{:?} {}", exit.ending(), exit.error().is_none()),
            )
        });
        std::future::pending::<Result<(), io::Error>>().await
    });
    let mut scope = Box::pin(scope);
    assert!(poll_once(scope.as_mut()).is_pending());
    let ((), reasons) = with_reports(|| drop(scope));
    assert_eq!(*log.lock().unwrap(), ["Cancelled true", "error-only"]);
    assert_eq!(reasons, [ReportReason::AsyncNotRun]);
}

#[test]
fn a_cancelled_send_scope_is_cancelled_too_and_keeps_a_cancelled_aclose_errors() {
    let log: Log = Log::default();
    let l = log.clone();
    let scope = SendAsyncExitStack::scope_send(move |stack| {
        Box::pin(async move {
            let a = l.clone();
            stack.push_exit(move |exit| push(&a, format!("{:?}", exit.ending())));
            stack.callback(|| Err::<(), _>("failed before the cut"));
            stack.push_async_callback(yield_once);
            // The body starts an aclose and is cut off while it awaits the async entry.
            let _ = stack.aclose().await;
            Ok::<(), io::Error>(())
        })
    });
    let mut scope = Box::pin(scope);
    assert!(poll_once(scope.as_mut()).is_pending());
    let ((), reasons) = with_reports(|| drop(scope));
    assert_eq!(*log.lock().unwrap(), ["Cancelled"]);
    // The in-flight entry is reported as not run, and the sync entry's error as dropped.
    assert_eq!(reasons, [ReportReason::AsyncNotRun, ReportReason::Dropped]);
}

#[test]
fn a_scope_that_finished_is_not_cancelled_and_a_plain_stack_is_abandoned() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let value = block_on(AsyncExitStack::scope(async move |stack| {
        stack.push_exit(move |exit| s.lock().unwrap().push(exit.ending()));
        yield_once().await;
        Ok::<_, io::Error>(3)
    }));
    assert_eq!(value.unwrap(), 3);
    let s = seen.clone();
    let stack = AsyncExitStack::new();
    stack.push_exit(move |exit| s.lock().unwrap().push(exit.ending()));
    drop(stack); // only a scope knows its body was cancelled
    assert_eq!(
        *seen.lock().unwrap(),
        [Ending::Succeeded, Ending::Abandoned]
    );
}

#[test]
fn a_scope_cancelled_at_every_await_point_runs_each_sync_entry_once() {
    for cut in 0..4 {
        let log: Log = Log::default();
        let l = log.clone();
        let mut scope = Box::pin(AsyncExitStack::scope(async move |stack| {
            for step in 0..3 {
                let l = l.clone();
                stack.callback_on_error(move || push(&l, format!("undo {step}")));
                yield_once().await;
            }
            Ok::<_, io::Error>(())
        }));
        let mut finished = false;
        for _ in 0..cut {
            finished |= poll_once(scope.as_mut()).is_ready();
        }
        drop(scope);
        let expected: Vec<String> = match (cut, finished) {
            (0, _) => vec![], // never polled: the body never ran
            (_, true) => vec![],
            (n, false) => (0..n).rev().map(|s| format!("undo {s}")).collect(),
        };
        assert_eq!(*log.lock().unwrap(), expected, "cut after {cut} polls");
    }
}

#[test]
fn close_with_shows_the_error_runs_error_only_entries_and_keeps_cleanup_errors() {
    let log: Log = Log::default();
    let mut stack = ExitStack::new();
    let (a, b) = (log.clone(), log.clone());
    stack.callback_on_error(move || push(&a, "rolled back"));
    stack.callback(|| Err::<(), _>("flush failed"));
    stack.push_exit(move |exit| {
        push(
            &b,
            format!(
                "{:?} {} {}",
                exit.ending(),
                exit.is_scope_error(),
                exit.error().unwrap()
            ),
        );
        Flow::Propagate
    });
    let error = stack.close_with(io::Error::other("aborted: shutdown"));
    assert_eq!(error.body_error().unwrap().to_string(), "aborted: shutdown");
    assert_eq!(error.cleanup_errors().unwrap().len(), 1);
    assert!(!error.is_suppressed());
    assert_eq!(
        *log.lock().unwrap(),
        ["Failed true aborted: shutdown", "rolled back"]
    );
    assert!(stack.is_empty());
}

#[test]
fn close_with_suppressed_says_so_and_later_entries_see_success() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut stack = ExitStack::new();
    let s = seen.clone();
    stack.push_exit(move |exit| s.lock().unwrap().push(exit.ending()));
    stack.push_exit(|exit| Flow::suppress_if(exit.is_scope_error()));
    let error = stack.close_with(std::fmt::Error);
    assert!(error.is_suppressed());
    assert_eq!(error.suppressed_error(), Some(&std::fmt::Error));
    assert_eq!(*seen.lock().unwrap(), [Ending::Succeeded]);
}

#[test]
fn aclose_with_a_hostile_error_and_a_panicking_entry_resumes_the_panic_once_all_ran() {
    let log: Log = Log::default();
    let mut stack = AsyncExitStack::new();
    let (a, b) = (log.clone(), log.clone());
    stack.callback_on_error(move || push(&a, "error-only ran"));
    stack.push_async_exit(|exit| {
        assert!(exit.is_scope_error());
        async { panic!("handler panics") }
    });
    stack.push_async_exit(move |exit| {
        push(&b, format!("{:?}", exit.ending()));
        async { Flow::Propagate }
    });
    let (caught, reasons) = with_reports(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            block_on(stack.aclose_with(HostileDisplay))
        }))
    });
    assert!(caught.is_err(), "the handler's panic is resumed");
    assert_eq!(*log.lock().unwrap(), ["Failed", "error-only ran"]);
    // The scope's error, lost to the panic, is reported (its Display panics: reported without text).
    assert_eq!(reasons, [ReportReason::LostToPanic]);
    assert!(stack.is_empty());
}

#[test]
fn aclose_with_is_suppressed_by_an_async_handler() {
    let mut stack = AsyncExitStack::new();
    stack.push_async_exit(|exit| {
        let mine = exit.is_scope_error();
        async move {
            yield_once().await;
            Flow::suppress_if(mine)
        }
    });
    let error = block_on(stack.aclose_with(io::Error::from(io::ErrorKind::TimedOut)));
    assert!(error.is_suppressed());
}
