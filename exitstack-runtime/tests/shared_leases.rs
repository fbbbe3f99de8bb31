//! Shared leases (issue 14): one value held by several stacks and plain `Shared` clones, torn
//! down once, by the last holder, in that holder's context, against hostile values too.

use exitstack::report::{self, ReportReason};
use exitstack::{Ending, Exit, ExitStack, NotRunError, SendExitStack, Shared};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};

mod support;
use support::HostileDisplay;

/// Runs `body` with this thread's reports collected as (reason, text).
fn reports<R>(body: impl FnOnce() -> R) -> (R, Vec<(ReportReason, String)>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let value = report::with_reporter(
        move |r: &report::Report<'_>| {
            let text = r.error().error().to_string();
            sink.lock().unwrap().push((r.reason(), text));
        },
        body,
    );
    let seen = seen.lock().unwrap().clone();
    (value, seen)
}

/// A teardown that counts its runs and fails with `message`.
fn counted(
    runs: &Arc<AtomicUsize>,
    message: &'static str,
) -> impl FnOnce(u32, &Exit<'_>) -> Result<(), String> + Send + 'static {
    let runs = Arc::clone(runs);
    move |value, _| {
        runs.fetch_add(1, Ordering::SeqCst);
        Err(format!("{message} {value}"))
    }
}

#[test]
fn shared_teardown_runs_once_in_the_last_stack_and_only_its_result_has_the_error() {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut first = ExitStack::new();
    let mut second = ExitStack::new();
    let mut third = ExitStack::new();
    let shared = first.share(7, counted(&runs, "released"));
    second.enter_shared(shared.clone()).label("second's lease");
    third.enter_shared(shared.clone()).label("third's lease");
    assert_eq!(shared.leases(), 4);
    drop(shared);
    assert!(third.close().is_ok());
    assert!(first.close().is_ok());
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let errors = second.close().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("second's lease"));
    assert_eq!(errors.first().error().to_string(), "released 7");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn shared_lease_keeps_its_place_in_the_stack_order() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut stack = ExitStack::new();
    let (before, after, teardown) = (log.clone(), log.clone(), log.clone());
    stack.callback(move || before.lock().unwrap().push("registered before"));
    stack.share("value", move |_, _| {
        teardown.lock().unwrap().push("teardown")
    });
    stack.callback(move || after.lock().unwrap().push("registered after"));
    stack.close().unwrap();
    let expected = ["registered after", "teardown", "registered before"];
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn shared_plain_value_dropped_last_reports_the_error() {
    let runs = Arc::new(AtomicUsize::new(0));
    let ((), seen) = reports(|| {
        let mut stack = ExitStack::new();
        let shared = stack.share(1, counted(&runs, "dropped"));
        stack.close().unwrap(); // not the last lease
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        drop(shared); // the last: outside any stack
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let expected = [(ReportReason::DropOutsideStack, "dropped 1".to_owned())];
    assert_eq!(seen, expected);
}

#[test]
fn shared_value_inside_an_entered_value_joins_that_stack_result() {
    let runs = Arc::new(AtomicUsize::new(0));
    let ((), seen) = reports(|| {
        let shared = Shared::new(2, counted(&runs, "inner"));
        let mut stack = ExitStack::new();
        stack.enter(vec![shared]); // a `Shared` owned by an entered value
        let errors = stack.close().unwrap_err();
        assert_eq!(errors.first().error().to_string(), "inner 2");
    });
    assert!(seen.is_empty());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn shared_dropped_stack_that_is_last_reports_as_dropped() {
    let runs = Arc::new(AtomicUsize::new(0));
    let ((), seen) = reports(|| {
        let stack = ExitStack::new();
        drop(stack.share(3, counted(&runs, "abandoned")));
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(seen, [(ReportReason::Dropped, "abandoned 3".to_owned())]);
}

#[test]
fn shared_cancelled_lease_is_let_go_like_a_dropped_value() {
    let runs = Arc::new(AtomicUsize::new(0));
    let ((), seen) = reports(|| {
        let shared = Shared::new(4, counted(&runs, "cancelled"));
        let mut stack = ExitStack::new();
        let lease = stack.enter_shared(shared.clone());
        drop(shared);
        lease.cancel(); // the last lease, let go without the stack
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(stack.close().is_ok());
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(
        seen,
        [(ReportReason::DropOutsideStack, "cancelled 4".to_owned())]
    );
}

#[test]
fn shared_lease_released_through_its_handle_returns_the_error() {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut stack = ExitStack::new();
    let lease = stack.enter_shared(Shared::new(5, counted(&runs, "now")));
    let errors = lease.release().unwrap_err();
    assert_eq!(errors.first().error().to_string(), "now 5");
    assert!(stack.close().is_ok());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn shared_async_teardown_reached_by_a_sync_stack_fails_not_run() {
    let dropped = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let (value, counter) = (DropCount(dropped.clone()), ran.clone());
    let mut stack = ExitStack::new();
    stack.enter_shared(Shared::new_async(value, move |_, _| async move {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let errors = stack.close().unwrap_err();
    assert!(errors
        .first()
        .error()
        .downcast_ref::<NotRunError>()
        .is_some());
    assert_eq!(
        (ran.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst)),
        (0, 1)
    );
}

/// Counts its drops.
struct DropCount(Arc<AtomicUsize>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn shared_teardown_that_panics_is_the_last_entry_panic_and_runs_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let later = Arc::new(AtomicUsize::new(0));
    let mut stack = ExitStack::new();
    let ran_later = later.clone();
    stack.callback(move || {
        ran_later.fetch_add(1, Ordering::SeqCst);
    });
    let shared = stack.share((), move |(), _| {
        counter.fetch_add(1, Ordering::SeqCst);
        panic!("teardown panics");
    });
    drop(shared);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| stack.close()));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"teardown panics"));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(later.load(Ordering::SeqCst), 1); // the panic stopped nothing
    assert!(stack.close().is_ok()); // and nothing runs again
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn shared_plain_drop_whose_teardown_panics_goes_on_or_is_reported_during_a_panic() {
    let panicking = || Shared::new((), |(), _| panic!("teardown panics"));
    let caught = panic::catch_unwind(AssertUnwindSafe(|| drop(panicking())));
    assert_eq!(
        caught.unwrap_err().downcast_ref::<&str>(),
        Some(&"teardown panics")
    );

    // Dropped by a panic: the teardown's panic is reported, nothing aborts.
    let ((), seen) = reports(|| {
        let caught = panic::catch_unwind(AssertUnwindSafe(|| {
            let _last = panicking();
            panic!("the body panics");
        }));
        assert_eq!(
            caught.unwrap_err().downcast_ref::<&str>(),
            Some(&"the body panics")
        );
    });
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, ReportReason::PanicDuringPanic);
    assert!(seen[0].1.contains("teardown panics"), "{seen:?}");
}

#[test]
fn shared_error_whose_display_panics_is_returned_and_reported_without_aborting() {
    let mut stack = ExitStack::new();
    drop(stack.share((), |(), _| Err::<(), _>(HostileDisplay)));
    let errors = stack.close().unwrap_err();
    assert!(errors.first().error().is::<HostileDisplay>());
    assert!(panic::catch_unwind(AssertUnwindSafe(|| errors.to_string())).is_err());

    // Reported: the reporter formats it, panics, and the report falls back to standard error.
    let delivered = Arc::new(AtomicUsize::new(0));
    let sink = delivered.clone();
    report::with_reporter(
        move |r: &report::Report<'_>| {
            sink.fetch_add(1, Ordering::SeqCst);
            assert!(r.error().error().is::<HostileDisplay>());
            let _ = r.to_string(); // panics
        },
        || drop(Shared::new((), |(), _| Err::<(), _>(HostileDisplay))),
    );
    assert_eq!(delivered.load(Ordering::SeqCst), 1);
}

/// A value whose `Drop` panics, counting its drops.
struct HostileDrop(Arc<AtomicUsize>);
impl Drop for HostileDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("value's Drop panics");
    }
}

#[test]
fn shared_value_whose_drop_panics_is_dropped_once_by_the_last_lease() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut first = ExitStack::new();
    let mut second = ExitStack::new();
    let shared = first.share(HostileDrop(drops.clone()), |value, _| drop(value));
    second.enter_shared(shared);
    assert!(second.close().is_ok()); // only `first` holds it now
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| first.close()));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"value's Drop panics"));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn shared_leases_released_from_several_threads_at_once_tear_down_once() {
    const THREADS: usize = if cfg!(miri) { 3 } else { 8 };
    let rounds = if cfg!(miri) { 2 } else { 50 };
    for _ in 0..rounds {
        let runs = Arc::new(AtomicUsize::new(0));
        let shared = Shared::new(vec![1u8; 8], counted_vec(&runs));
        let barrier = Barrier::new(THREADS);
        let leases: Vec<_> = (0..THREADS).map(|_| shared.clone()).collect();
        drop(shared); // the main thread's lease goes first: one of the threads is last
        let failures = std::thread::scope(|scope| {
            let threads: Vec<_> = leases
                .into_iter()
                .map(|lease| {
                    let barrier = &barrier;
                    scope.spawn(move || {
                        let mut stack = SendExitStack::new_send();
                        stack.enter_shared(lease);
                        barrier.wait(); // every lease is held: let go all at once
                        stack.close().err().map_or(0, |errors| errors.len())
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|thread| thread.join().unwrap())
                .sum::<usize>()
        });
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(failures, 1, "exactly one thread let go last");
    }
}

#[test]
fn shared_teardown_sees_the_exit_of_the_stack_that_let_go_last() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let mut first = ExitStack::new();
    let shared = first.share(1, move |_, exit: &Exit<'_>| {
        let pending: Vec<String> = exit.errors().map(|e| e.to_string()).collect();
        log.lock().unwrap().push((exit.ending(), pending));
    });
    let second = ExitStack::new();
    second.enter_shared(shared.clone());
    second.callback(|| Err::<(), _>("pending when the lease goes"));
    drop(shared);
    first.close().unwrap(); // not the last lease
    let caught = panic::catch_unwind(AssertUnwindSafe(move || {
        let _second = second; // dropped by the panic: the last lease goes here
        panic!("the holder panics");
    }));
    assert!(caught.is_err());
    assert_eq!(
        *seen.lock().unwrap(),
        [(
            Ending::Panicked,
            vec!["pending when the lease goes".to_owned()]
        )]
    );
    // Let go by hand: an unwind that succeeded; dropped: one that was abandoned.
    let endings = Arc::new(std::sync::Mutex::new(Vec::new()));
    for by_hand in [true, false] {
        let log = endings.clone();
        let shared = Shared::new((), move |(), exit: &Exit<'_>| {
            log.lock().unwrap().push(exit.ending());
        });
        if by_hand {
            shared.release().unwrap();
        } else {
            drop(shared);
        }
    }
    assert_eq!(
        *endings.lock().unwrap(),
        [Ending::Succeeded, Ending::Abandoned]
    );
}

fn counted_vec(
    runs: &Arc<AtomicUsize>,
) -> impl FnOnce(Vec<u8>, &Exit<'_>) -> Result<(), String> + Send {
    let runs = Arc::clone(runs);
    move |value, _| {
        runs.fetch_add(1, Ordering::SeqCst);
        Err(format!("released {} bytes", value.len()))
    }
}

#[test]
fn shared_is_send_and_sync_exactly_when_the_value_is() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let shared = Shared::new(String::from("x"), |_, _| ());
    send_sync(&shared);
    let stack = SendExitStack::new_send();
    let lease = stack.share(1u64, |_, _| ());
    std::thread::scope(|scope| {
        scope.spawn(|| assert_eq!(*lease, 1));
    });
    assert_eq!(lease.leases(), 2);
}

#[test]
fn shared_async_stack_dropped_reports_only_when_it_held_the_last_lease() {
    let (ran, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let counter = ran.clone();
    let ((), seen) = reports(|| {
        let first = exitstack::AsyncExitStack::new();
        let shared = first.share_async(DropCount(dropped.clone()), move |_, _| async move {
            counter.fetch_add(1, Ordering::SeqCst);
        });
        let second = exitstack::AsyncExitStack::new();
        second.enter_shared(shared);
        drop(first); // not the last lease: nothing to report
        assert_eq!(dropped.load(Ordering::SeqCst), 0);
        drop(second); // the last: its async teardown cannot run without `aclose`
    });
    assert_eq!(
        (ran.load(Ordering::SeqCst), dropped.load(Ordering::SeqCst)),
        (0, 1)
    );
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, ReportReason::AsyncNotRun);
}

/// A task's `aclose` result, `None` if it panicked.
type TaskResult = Option<Result<(), exitstack::UnwindError>>;

/// How the three-task tests end each task: closed, or panicking with its stack.
#[derive(Clone, Copy, PartialEq)]
enum Ends {
    Closes,
    Panics,
}

/// Three tokio tasks on a multi-thread runtime, each holding a lease of `shared` in its own
/// `SendAsyncExitStack`, let go in `order` (each waits for its turn, and the next turn waits
/// for it to finish). Returns each task's `aclose` result (`None` if it panicked) and the
/// reports made on the panicking task's thread while its stack was dropped.
fn three_tasks(
    shared: Shared<String>,
    order: [usize; 3],
    ends: [Ends; 3],
) -> (Vec<TaskResult>, Vec<(ReportReason, String)>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let results = runtime.block_on(async {
        let mut gates = Vec::new();
        let mut tasks = Vec::new();
        for end in ends {
            let (gate, turn) = tokio::sync::oneshot::channel::<()>();
            let (lease, seen) = (shared.clone(), seen.clone());
            tasks.push(Some(tokio::spawn(async move {
                let mut stack = exitstack::SendAsyncExitStack::new_send();
                stack.enter_shared(lease);
                tokio::task::yield_now().await; // the stack is held across awaits
                turn.await.unwrap();
                if end == Ends::Panics {
                    return reports_into(&seen, move || {
                        let _dropped_by_the_panic = stack;
                        panic!("task panics");
                    });
                }
                stack.aclose().await
            })));
            gates.push(Some(gate));
        }
        drop(shared);
        let mut results: Vec<_> = (0..3).map(|_| None).collect();
        for index in order {
            gates[index].take().unwrap().send(()).unwrap();
            let joined = tasks[index].take().unwrap().await;
            results[index] = joined.ok();
        }
        results
    });
    let seen = seen.lock().unwrap().clone();
    (results, seen)
}

/// `reports`, into a shared sink, for a body that may panic (the panic goes on).
fn reports_into<R>(seen: &Arc<Mutex<Vec<(ReportReason, String)>>>, body: impl FnOnce() -> R) -> R {
    let sink = Arc::clone(seen);
    report::with_reporter(
        move |r: &report::Report<'_>| {
            let text = r.error().error().to_string();
            sink.lock().unwrap().push((r.reason(), text));
        },
        body,
    )
}

fn async_pool(runs: &Arc<AtomicUsize>) -> Shared<String> {
    let counter = Arc::clone(runs);
    Shared::new_async(String::from("pool"), move |pool, _| async move {
        tokio::task::yield_now().await;
        counter.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>(format!("closing {pool}"))
    })
}

#[test]
#[cfg_attr(miri, ignore)] // a tokio multi-thread runtime
fn shared_three_tasks_await_the_async_teardown_once_in_the_last_task() {
    let runs = Arc::new(AtomicUsize::new(0));
    let (results, seen) = three_tasks(async_pool(&runs), [0, 2, 1], [Ends::Closes; 3]);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(matches!(results[0], Some(Ok(()))));
    assert!(matches!(results[2], Some(Ok(()))));
    let errors = results[1].as_ref().unwrap().as_ref().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().error().to_string(), "closing pool");
    assert!(seen.is_empty());
}

#[test]
#[cfg_attr(miri, ignore)] // a tokio multi-thread runtime
fn shared_three_tasks_one_panicking_before_the_last_still_tear_down_once() {
    let runs = Arc::new(AtomicUsize::new(0));
    let ends = [Ends::Panics, Ends::Closes, Ends::Closes];
    let (results, seen) = three_tasks(async_pool(&runs), [0, 2, 1], ends);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(results[0].is_none(), "task 0 panicked");
    assert!(matches!(results[2], Some(Ok(()))));
    let errors = results[1].as_ref().unwrap().as_ref().unwrap_err();
    assert_eq!(errors.first().error().to_string(), "closing pool");
    assert!(
        seen.is_empty(),
        "a panicking task that was not last reports nothing"
    );
}

#[test]
#[cfg_attr(miri, ignore)] // a tokio multi-thread runtime
fn shared_three_tasks_the_panicking_last_one_tears_down_and_reports() {
    // A sync teardown runs in the panicking task's dropped stack; its error is reported there.
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let shared = Shared::new(String::from("pool"), move |pool, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>(format!("closing {pool}"))
    });
    let ends = [Ends::Closes, Ends::Panics, Ends::Closes];
    let (results, seen) = three_tasks(shared, [0, 2, 1], ends);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert!(matches!(results[0], Some(Ok(()))));
    assert!(matches!(results[2], Some(Ok(()))));
    assert!(results[1].is_none(), "task 1 panicked");
    assert_eq!(seen, [(ReportReason::Dropped, "closing pool".to_owned())]);

    // An async teardown cannot be awaited by a dropped stack: reported as not run, once.
    let runs = Arc::new(AtomicUsize::new(0));
    let (results, seen) = three_tasks(async_pool(&runs), [0, 2, 1], ends);
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    assert!(results[1].is_none());
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, ReportReason::AsyncNotRun);
}

#[test]
#[cfg_attr(miri, ignore)] // a tokio runtime
fn shared_async_lease_released_through_its_handle_awaits_the_teardown() {
    let runs = Arc::new(AtomicUsize::new(0));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut stack = exitstack::AsyncExitStack::new();
        let lease = stack.enter_shared(async_pool(&runs)).label("pool lease");
        let errors = lease.release().await.unwrap_err();
        assert_eq!(errors.first().error().to_string(), "closing pool");
        assert_eq!(runs.load(Ordering::SeqCst), 1); // awaited by `release`, not deferred
        assert!(stack.aclose().await.is_ok());
    });
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
fn shared_release_async_runs_a_sync_teardown_only_for_the_last_lease_and_returns_its_error() {
    let endings = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = endings.clone();
    let shared = Shared::new(9, move |value, exit: &Exit<'_>| {
        log.lock().unwrap().push(exit.ending());
        Err::<(), _>(format!("released {value}"))
    });
    let other = shared.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        assert!(shared.release_async().await.is_ok()); // not the last: nothing runs
        assert!(endings.lock().unwrap().is_empty());
        let error = other.release_async().await.unwrap_err();
        assert_eq!(error.error().to_string(), "released 9");
        assert!(error.location().is_some());
    });
    assert_eq!(*endings.lock().unwrap(), [Ending::Succeeded]);
}
