//! Panics in an `AsyncExitStack`: a panicking async cleanup (while polled or while building
//! its future) or sync cleanup never stops the others; the first panic is resumed after every
//! entry ran; errors pending then go to the report channel.

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::{self, AssertUnwindSafe};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use exitstack::report::{self, Report, ReportReason};
use exitstack::AsyncExitStack;

/// Awaits `future` in place, turning a panic into `Err` (there is no `futures` crate here).
async fn catch<F: Future>(future: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut future = pin!(future);
    poll_fn(
        |cx| match panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Err(payload) => Poll::Ready(Err(payload)),
        },
    )
    .await
}

/// The message of the panic `future` must raise.
async fn panic_message<F: Future>(future: F) -> String {
    let Err(payload) = catch(future).await else {
        panic!("expected a panic")
    };
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn async_cleanup_panic_runs_the_rest_then_resumes() {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut stack = AsyncExitStack::new();
    let r = runs.clone();
    stack.callback(move || {
        r.fetch_add(1, Ordering::SeqCst);
    });
    let r = runs.clone();
    stack.push_async_callback(move || async move {
        tokio::task::yield_now().await;
        r.fetch_add(1, Ordering::SeqCst);
    });
    stack.push_async_callback(|| async {
        tokio::task::yield_now().await;
        panic!("async cleanup panicked");
    });
    stack.push_async_callback(|| -> std::future::Ready<()> { panic!("second panic, building") });
    let message = panic_message(stack.aclose()).await;
    assert_eq!(
        message, "second panic, building",
        "the first panic is resumed"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2, "every other entry ran");
    assert!(stack.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_pending_when_the_panic_resumes_are_reported() {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = reports.clone();
    let mut stack = AsyncExitStack::new();
    stack.push_async_callback(|| async { Err("lost to the panic") });
    stack.callback(|| panic!("sync cleanup panicked"));
    // The reporter is per thread: poll the aclose on this thread, inside `with_reporter`.
    let result = report::with_reporter(
        move |r: &Report<'_>| {
            sink.lock()
                .unwrap()
                .push((r.reason(), r.error().error().to_string()))
        },
        || {
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            let mut close = pin!(stack.aclose());
            panic::catch_unwind(AssertUnwindSafe(|| close.as_mut().poll(&mut cx)))
        },
    );
    assert!(result.is_err(), "the sync panic is resumed");
    assert_eq!(
        *reports.lock().unwrap(),
        [(ReportReason::LostToPanic, "lost to the panic".to_string())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_body_panic_unwinds_every_entry_then_resumes() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let message = panic_message(AsyncExitStack::scope(async move |stack| {
        let l1 = l.clone();
        stack.push_async_exit(move |exit| {
            let panicking = exit.is_panicking();
            let ending = exit.ending();
            async move {
                tokio::task::yield_now().await;
                l1.lock()
                    .unwrap()
                    .push(format!("async exit: panicking={panicking} {ending:?}"));
                exitstack::Flow::Suppress // cannot suppress a panic
            }
        });
        let l2 = l.clone();
        stack.callback_on_error(move || l2.lock().unwrap().push("on error".to_string()));
        tokio::task::yield_now().await;
        if l.lock().unwrap().is_empty() {
            panic!("body panicked");
        }
        Ok::<(), std::fmt::Error>(())
    }))
    .await;
    assert_eq!(message, "body panicked");
    assert_eq!(
        *log.lock().unwrap(),
        ["on error", "async exit: panicking=true Panicked"]
    );
}
