//! Concurrent release groups on tokio's paused clock: virtual time makes the timing checks
//! exact, not flaky. Branches close together, a limit queues them, every error and panic comes
//! back labelled with its branch, and a cancelled close resumes each entry exactly once.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use exitstack::{
    report, AsyncExitStack, ConcurrentGroup, NodeKind, NotRunError, SendAsyncExitStack, TreeNode,
};
use tokio::time::{sleep, Instant};

type Log = Arc<Mutex<Vec<String>>>;

/// A branch of two async entries that each sleep 100 ms and log their name.
fn sleepy_branch(log: &Log, name: &str) -> AsyncExitStack<'static> {
    let branch = AsyncExitStack::new();
    for step in ["pushed first", "pushed second"] {
        let (log, entry) = (log.clone(), format!("{name}: {step}"));
        branch.push_async_callback(move || async move {
            sleep(Duration::from_millis(100)).await;
            log.lock().unwrap().push(entry);
        });
    }
    branch
}

fn three_sleepy_branches(log: &Log) -> [AsyncExitStack<'static>; 3] {
    ["a", "b", "c"].map(|name| sleepy_branch(log, name))
}

fn entries_of(log: &Log, name: &str) -> Vec<String> {
    let prefix = format!("{name}: ");
    let log = log.lock().unwrap();
    log.iter()
        .filter(|e| e.starts_with(&prefix))
        .cloned()
        .collect()
}

#[tokio::test(start_paused = true)]
async fn concurrent_branches_close_together() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    stack.push_concurrent(three_sleepy_branches(&log));
    let started = Instant::now();
    stack.aclose().await.unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(250), "{elapsed:?}: not 600");
    for name in ["a", "b", "c"] {
        // Last in, first out inside each branch.
        let expected = [
            format!("{name}: pushed second"),
            format!("{name}: pushed first"),
        ];
        assert_eq!(entries_of(&log, name), expected);
    }
}

#[tokio::test(start_paused = true)]
async fn concurrent_limit_of_one_is_sequential() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    stack.push_concurrent(ConcurrentGroup::from(three_sleepy_branches(&log)).limit(1));
    let started = Instant::now();
    stack.aclose().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(600));
    assert!(started.elapsed() < Duration::from_millis(650));
    let order: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .map(|e| e[..1].to_owned())
        .collect();
    assert_eq!(order, ["a", "a", "b", "b", "c", "c"]);
}

#[tokio::test(start_paused = true)]
async fn concurrent_limit_of_two_starts_the_third_when_one_ends() {
    let log = Log::default();
    let fast = AsyncExitStack::new();
    fast.push_async_callback(|| sleep(Duration::from_millis(50)));
    let (a, b) = (sleepy_branch(&log, "a"), sleepy_branch(&log, "b"));
    let group = ConcurrentGroup::new()
        .branch("fast", fast)
        .branch("a", a)
        .branch("b", b);
    let mut stack = AsyncExitStack::new();
    stack.push_concurrent(group.limit(2));
    let started = Instant::now();
    stack.aclose().await.unwrap();
    // `b` starts at 50 ms, when `fast` ends, and takes 200 ms.
    assert_eq!(started.elapsed().as_millis() / 10, 25);
}

#[tokio::test(start_paused = true)]
async fn concurrent_errors_and_panics_come_back_labelled_by_branch() {
    let (a, b, c) = (
        AsyncExitStack::new(),
        AsyncExitStack::new(),
        AsyncExitStack::new(),
    );
    a.push_async_callback(|| async {
        sleep(Duration::from_millis(30)).await;
        Err("a refused")
    });
    b.callback(|| Err("b refused, sync")).label("own label");
    b.push_async_callback(|| async { Err("b refused, async") });
    c.push_async_callback(|| async {
        sleep(Duration::from_millis(10)).await;
        panic!("c panicked")
    });
    let ran_after_panic = Arc::new(Mutex::new(false));
    let flag = ran_after_panic.clone();
    c.callback(move || *flag.lock().unwrap() = true);
    let group = ConcurrentGroup::new()
        .branch("a", a)
        .branch("b", b)
        .branch("c", c);

    let mut stack = AsyncExitStack::new();
    stack.callback(|| Err("outer, runs last"));
    stack.push_concurrent(group).label("shutdown");
    let errors = stack.aclose().await.unwrap_err();
    assert!(
        *ran_after_panic.lock().unwrap(),
        "a panic stops nothing in its branch"
    );

    let flat: Vec<(Option<&str>, String, bool)> = errors
        .iter()
        .map(|e| (e.label(), e.error().to_string(), e.is_panic()))
        .collect();
    assert_eq!(
        flat,
        [
            (Some("a"), "a refused".to_owned(), false),
            (Some("b"), "b refused, async".to_owned(), false),
            (Some("own label"), "b refused, sync".to_owned(), false),
            (Some("c"), "panicked: c panicked".to_owned(), true),
            (None, "outer, runs last".to_owned(), false),
        ]
    );

    let nodes: Vec<_> = errors.tree().nodes().collect();
    let TreeNode::Inner(group) = nodes[0] else {
        panic!("the group first")
    };
    assert_eq!(
        (group.kind(), group.label()),
        (NodeKind::Concurrent, Some("shutdown"))
    );
    let branches: Vec<(Option<&str>, NodeKind, usize)> = group
        .children()
        .map(|child| match child {
            TreeNode::Inner(branch) => (branch.label(), branch.kind(), branch.leaves().len()),
            TreeNode::Leaf(_) => panic!("branches are nodes"),
        })
        .collect();
    assert_eq!(
        branches,
        [
            (Some("a"), NodeKind::Sequential, 1),
            (Some("b"), NodeKind::Sequential, 2),
            (Some("c"), NodeKind::Sequential, 1),
        ]
    );
    assert!(matches!(nodes[1], TreeNode::Leaf(_)));
    let shown = format!("{}", errors.tree());
    assert!(
        shown.contains(
            "\n- concurrent `shutdown`\n  - sequential `a`\n    - cleanup `a` failed: a refused"
        ),
        "{shown}"
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_group_takes_one_place_in_lifo_order() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    let first = log.clone();
    stack.callback(move || first.lock().unwrap().push("registered first".to_owned()));
    stack.push_concurrent(three_sleepy_branches(&log));
    let last = log.clone();
    stack.push_async_callback(move || async move {
        last.lock().unwrap().push("registered last".to_owned());
    });
    stack.aclose().await.unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 8);
    assert_eq!(log[0], "registered last");
    assert_eq!(log[7], "registered first");
}

#[tokio::test(start_paused = true)]
async fn concurrent_close_cut_off_and_resumed_runs_each_entry_once() {
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    stack.push_concurrent(three_sleepy_branches(&log));
    let started = Instant::now();
    // Cut off twice, in the middle of the first and of the second entries of each branch.
    for cut in [50, 100] {
        let cut_off = tokio::time::timeout(Duration::from_millis(cut), stack.aclose()).await;
        assert!(cut_off.is_err());
    }
    assert_eq!(
        log.lock().unwrap().len(),
        3,
        "each branch's first entry ended at 100 ms"
    );
    stack.aclose().await.unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_millis(200),
        "no entry restarted"
    );
    for name in ["a", "b", "c"] {
        assert_eq!(entries_of(&log, name).len(), 2);
    }
}

#[test]
fn concurrent_group_of_a_dropped_stack_runs_sync_entries_and_reports_async_ones() {
    let log = Log::default();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    report::with_reporter(
        move |r: &report::Report<'_>| {
            let not_run = r.error().error().is::<NotRunError>();
            sink.lock().unwrap().push((r.reason(), not_run));
        },
        || {
            let branches = three_sleepy_branches(&log);
            let sync_log = log.clone();
            branches[1].callback(move || sync_log.lock().unwrap().push("sync".to_owned()));
            let stack = AsyncExitStack::new();
            stack.push_concurrent(branches);
            drop(stack);
        },
    );
    assert_eq!(*log.lock().unwrap(), ["sync"]);
    let seen = seen.lock().unwrap();
    // Six async entries of the branches, and the group itself.
    assert_eq!(seen.len(), 7);
    assert!(seen
        .iter()
        .all(|&(reason, not_run)| reason == report::ReportReason::AsyncNotRun && not_run));
}

#[tokio::test(start_paused = true)]
async fn concurrent_group_on_a_send_stack_closes_in_a_spawned_task() {
    let task = tokio::spawn(async {
        let branches: Vec<SendAsyncExitStack<'static>> = (0..4)
            .map(|_| {
                let branch = SendAsyncExitStack::new_send();
                branch.push_async_callback(|| sleep(Duration::from_millis(100)));
                branch
            })
            .collect();
        let mut stack = SendAsyncExitStack::new_send();
        stack.push_concurrent(branches);
        let started = Instant::now();
        sleep(Duration::from_millis(1)).await; // held across an await
        stack.aclose().await.map(|()| started.elapsed())
    });
    let elapsed = task.await.unwrap().unwrap();
    assert_eq!(elapsed, Duration::from_millis(101));
}

/// A branch whose entries log whether they ran, and what an exit handler saw.
fn ending_branch(log: &Log) -> AsyncExitStack<'static> {
    let branch = AsyncExitStack::new();
    let (on_error, on_success, seen) = (log.clone(), log.clone(), log.clone());
    branch.callback_on_error(move || on_error.lock().unwrap().push("on error".into()));
    branch.callback_on_success(move || on_success.lock().unwrap().push("on success".into()));
    branch.push_exit(move |exit| {
        let saw = format!("saw {:?}, error: {}", exit.ending(), exit.error().is_some());
        seen.lock().unwrap().push(saw);
    });
    branch
}

#[tokio::test(start_paused = true)]
async fn concurrent_branches_unwind_with_the_ending_that_reached_the_group() {
    // Closed: the branches succeed.
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    stack.push_concurrent([ending_branch(&log)]);
    stack.aclose().await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["saw Succeeded, error: false", "on success"]
    );

    // Closed with an error: the branches fail too (error-only cleanups run), but the error
    // stays with the outer stack, whose own handler can still suppress it.
    let log = Log::default();
    let mut stack = AsyncExitStack::new();
    let outer = log.clone();
    stack.push_exit(move |exit| {
        outer
            .lock()
            .unwrap()
            .push(format!("outer saw error: {}", exit.error().is_some()));
        exitstack::Flow::Suppress
    });
    stack.push_concurrent([ending_branch(&log), ending_branch(&log)]);
    let closed = stack.aclose_with(std::fmt::Error).await;
    assert!(closed.is_suppressed());
    // Sync entries only: each branch is done in its first poll, in branch order.
    let expected = [
        "saw Failed, error: false",
        "on error",
        "saw Failed, error: false",
        "on error",
        "outer saw error: true",
    ];
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn concurrent_branches_of_a_panicked_scope_run_their_error_cleanups() {
    let log = Log::default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        runtime.block_on(AsyncExitStack::scope(
            async |stack: &mut AsyncExitStack<'_>| {
                stack.push_concurrent([ending_branch(&log)]);
                panic!("the body panics");
                #[allow(unreachable_code)]
                Ok::<(), std::fmt::Error>(())
            },
        ))
    }));
    assert!(panicked.is_err(), "the body's panic goes on");
    assert_eq!(
        *log.lock().unwrap(),
        ["saw Panicked, error: false", "on error"]
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_branches_of_a_cancelled_scope_are_dropped_with_its_stack() {
    // A cancelled scope drops its stack, and a dropped stack drops a group it did not reach:
    // each branch is dropped in turn (its sync entries run as `Abandoned`, error-only ones
    // included), as any stack dropped without `aclose`.
    let log = Log::default();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(10),
        AsyncExitStack::scope(async |stack: &mut AsyncExitStack<'_>| {
            stack.push_concurrent([ending_branch(&log)]);
            sleep(Duration::from_secs(60)).await;
            Ok::<(), std::fmt::Error>(())
        }),
    )
    .await;
    assert!(cancelled.is_err(), "cut off by the timeout");
    assert_eq!(
        *log.lock().unwrap(),
        ["saw Abandoned, error: false", "on error"]
    );
}
