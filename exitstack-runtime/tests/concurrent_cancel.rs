//! Concurrent groups polled by hand, with no runtime and no clock (so Miri runs them): the
//! `aclose` future dropped at every await point and resumed, and the stack dropped at every
//! await point, with branches that fail and panic.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use exitstack::{report, AsyncExitStack, ConcurrentGroup, NotRunError, UnwindError};

/// Pending `n` times (waking itself), then ready.
struct Yield(usize);

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// How often each entry ran, by name.
type Runs = Rc<RefCell<Vec<String>>>;

const ASYNC_ENTRIES: usize = 6;
const SYNC_ENTRIES: usize = 2;

/// A stack: an outer async entry, a group of three branches (one fails, one panics, one has a
/// sync entry between async ones), and an outer sync entry.
fn build(runs: &Runs) -> AsyncExitStack<'static> {
    let entry = |stack: &AsyncExitStack<'static>, name: &'static str, polls: usize, fail: bool| {
        let runs = runs.clone();
        stack
            .push_async_callback(move || async move {
                Yield(polls).await;
                runs.borrow_mut().push(name.to_owned());
                if name == "c1" {
                    panic!("c1 panics");
                }
                if fail {
                    Err(format!("{name} failed"))
                } else {
                    Ok(())
                }
            })
            .label(name);
    };
    let sync = |stack: &AsyncExitStack<'static>, name: &'static str| {
        let runs = runs.clone();
        stack
            .callback(move || runs.borrow_mut().push(name.to_owned()))
            .label(name);
    };
    let (a, b, c) = (
        AsyncExitStack::new(),
        AsyncExitStack::new(),
        AsyncExitStack::new(),
    );
    entry(&a, "a1", 3, true);
    entry(&a, "a2", 1, false);
    entry(&b, "b1", 2, false);
    sync(&b, "b-sync");
    entry(&b, "b2", 2, true);
    entry(&c, "c1", 1, false);
    let stack = AsyncExitStack::new();
    sync(&stack, "outer-sync");
    stack
        .push_concurrent(ConcurrentGroup::from([a, b, c]).limit(2))
        .label("group");
    entry(&stack, "outer-async", 2, false);
    stack
}

/// Polls a fresh `aclose` future once and drops it.
fn poll_once(stack: &mut AsyncExitStack<'static>) -> Poll<Result<(), UnwindError>> {
    let mut cx = Context::from_waker(Waker::noop());
    let mut closing = stack.aclose();
    Pin::new(&mut closing).poll(&mut cx)
}

#[test]
fn concurrent_close_dropped_at_every_await_point_runs_each_entry_once() {
    let runs = Runs::default();
    let mut stack = build(&runs);
    let mut polls = 0;
    let errors = loop {
        polls += 1;
        assert!(polls < 100, "the close makes progress");
        if let Poll::Ready(result) = poll_once(&mut stack) {
            break result.unwrap_err();
        }
    };
    assert!(polls > 5, "it was cut off at many await points: {polls}");
    let mut ran = runs.borrow().clone();
    ran.sort();
    let mut expected = [
        "a1",
        "a2",
        "b1",
        "b2",
        "b-sync",
        "c1",
        "outer-async",
        "outer-sync",
    ];
    expected.sort();
    assert_eq!(ran, expected, "each entry exactly once");
    let flat: Vec<(Option<&str>, bool)> =
        errors.iter().map(|e| (e.label(), e.is_panic())).collect();
    // A branch's panic is labelled with its branch (`from` names them "branch N").
    let expected = [
        (Some("a1"), false),
        (Some("b2"), false),
        (Some("branch 3"), true),
    ];
    assert_eq!(flat, expected);
    assert!(stack.is_empty());
}

#[test]
fn concurrent_stack_dropped_at_every_await_point_releases_each_entry_at_most_once() {
    for cut in 0..10 {
        let runs = Runs::default();
        let not_run = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = not_run.clone();
        let mut finished = false;
        report::with_reporter(
            move |r: &report::Report<'_>| {
                if r.error().error().is::<NotRunError>() {
                    sink.lock()
                        .unwrap()
                        .push(r.error().label().unwrap_or("?").to_owned());
                }
            },
            || {
                let mut stack = build(&runs);
                for _ in 0..cut {
                    if poll_once(&mut stack).is_ready() {
                        finished = true;
                        break;
                    }
                }
                drop(stack);
            },
        );
        let ran = runs.borrow();
        let not_run = not_run.lock().unwrap();
        for name in ran.iter().chain(not_run.iter()) {
            let times = ran
                .iter()
                .chain(not_run.iter())
                .filter(|n| *n == name)
                .count();
            assert_eq!(
                times, 1,
                "cut {cut}: {name} ran or was reported once: {ran:?} {not_run:?}"
            );
        }
        let sync_ran = ran
            .iter()
            .filter(|n| n.contains("sync") && *n != "outer-async")
            .count();
        assert_eq!(sync_ran, SYNC_ENTRIES, "cut {cut}: sync entries always run");
        let group_reported = not_run.iter().any(|n| n == "group");
        let async_released = ran.len() - SYNC_ENTRIES + not_run.len() - usize::from(group_reported);
        assert_eq!(
            async_released, ASYNC_ENTRIES,
            "cut {cut}: {ran:?} {not_run:?}"
        );
        assert_eq!(finished, cut >= 8, "cut {cut}: the close takes 8 polls");
    }
}

/// A group whose branch `fast` fails at once and whose branch `slow` is still pending after
/// the first poll.
fn fast_and_slow() -> AsyncExitStack<'static> {
    let (fast, slow) = (AsyncExitStack::new(), AsyncExitStack::new());
    fast.push_async_callback(|| async { Err("fast failed") })
        .label("fast-entry");
    slow.push_async_callback(|| Yield(5));
    let stack = AsyncExitStack::new();
    stack.push_concurrent(
        ConcurrentGroup::new()
            .branch("fast", fast)
            .branch("slow", slow),
    );
    stack
}

/// Regression (found by `tests/tests/faults/concurrent.rs`): the errors of a branch that had
/// finished were kept in the group's future and dropped with it, unreported, when the stack
/// was dropped after a cut-off `aclose`.
#[test]
fn concurrent_group_dropped_in_flight_reports_the_errors_of_branches_already_closed() {
    let reported = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = reported.clone();
    report::with_reporter(
        move |r: &report::Report<'_>| sink.lock().unwrap().push(r.error().to_string()),
        || {
            let mut stack = fast_and_slow();
            assert!(poll_once(&mut stack).is_pending());
            drop(stack);
        },
    );
    let reported = reported.lock().unwrap();
    let fast = reported
        .iter()
        .filter(|r| r.contains("fast failed"))
        .count();
    assert_eq!(fast, 1, "reported once: {reported:?}");
}

/// The same group cut off by a grace period: the finished branch's error is returned with the
/// time-out.
#[test]
fn concurrent_group_cut_off_by_a_grace_period_returns_the_errors_of_branches_already_closed() {
    let mut stack = fast_and_slow();
    let close = stack.aclose_within(std::time::Duration::from_secs(1), |_| async {});
    let mut close = std::pin::pin!(close);
    let Poll::Ready(result) = close.as_mut().poll(&mut Context::from_waker(Waker::noop())) else {
        panic!("the grace is over at the first poll");
    };
    let errors: Vec<String> = result.unwrap_err().iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("timed out"), "{errors:?}");
    assert!(errors[1].contains("fast failed"), "{errors:?}");
}
