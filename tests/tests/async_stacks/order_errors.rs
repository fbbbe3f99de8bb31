//! `AsyncExitStack` order and errors (`SEMANTICS.md`, "Async", with "Order", "Exactly once" and
//! "Errors" carried over): sync and async entries in one LIFO order, every error returned in
//! order with its label and site, exit handlers (sync and async) that see and suppress,
//! contexts, handles, `pop_all`.

use std::future::Future;
use std::sync::{Arc, Mutex};

use exitstack::{AsyncContext, AsyncExitStack, Ending, Exit, Flow};

type Log = Arc<Mutex<Vec<String>>>;

fn log() -> Log {
    Arc::new(Mutex::new(Vec::new()))
}

fn push(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_and_async_entries_share_one_lifo_order() {
    let log = log();
    let mut stack = AsyncExitStack::new();
    for i in 0..6 {
        let log = log.clone();
        if i % 2 == 0 {
            stack.callback(move || push(&log, format!("sync {i}")));
        } else {
            stack.push_async_callback(move || async move {
                tokio::task::yield_now().await;
                push(&log, format!("async {i}"));
            });
        }
    }
    stack.aclose().await.unwrap();
    assert_eq!(
        entries(&log),
        ["async 5", "sync 4", "async 3", "sync 2", "async 1", "sync 0"]
    );
    assert!(stack.is_empty());
    stack.aclose().await.unwrap(); // a second aclose does nothing
    assert_eq!(entries(&log).len(), 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_error_is_returned_in_order_with_label_and_site() {
    let mut stack = AsyncExitStack::new();
    let _labelled = stack.callback(|| Err("sync first registered")).label("s1");
    let async_entry = stack.push_async_callback(|| async { Err("async") });
    let line = line!() - 1;
    let site_seen_by_handle = async_entry.location();
    let _labelled = async_entry.label("a");
    stack.push_async_exit(|_| async { Err::<Flow, _>("async exit") });
    stack.callback(|| Err("sync last registered"));
    let errors = stack.aclose().await.unwrap_err();
    let messages: Vec<String> = errors.iter().map(|e| e.error().to_string()).collect();
    assert_eq!(
        messages,
        [
            "sync last registered",
            "async exit",
            "async",
            "sync first registered"
        ]
    );
    let labels: Vec<Option<&str>> = errors.iter().map(|e| e.label()).collect();
    assert_eq!(labels, [None, None, Some("a"), Some("s1")]);
    let site = errors.as_slice()[2].location().unwrap();
    assert!(site.file().ends_with("async_stacks/order_errors.rs"));
    assert_eq!(site.line(), line);
    assert_eq!(site, site_seen_by_handle);
}

#[tokio::test(flavor = "multi_thread")]
async fn async_exit_handler_sees_and_suppresses_pending_errors() {
    let seen = log();
    let mut stack = AsyncExitStack::new();
    stack.callback(|| Err("after the suppression: kept"));
    let sink = seen.clone();
    stack.push_async_exit(move |exit: &Exit<'_>| {
        let pending: Vec<String> = exit.errors().map(|e| e.to_string()).collect();
        let ending = exit.ending();
        async move {
            tokio::task::yield_now().await;
            push(&sink, format!("{ending:?}: {}", pending.join(", ")));
            Flow::Suppress
        }
    });
    stack.push_async_callback(|| async { Err("async: suppressed") });
    stack.callback(|| Err("sync: suppressed"));
    let errors = stack.aclose().await.unwrap_err();
    assert_eq!(
        entries(&seen),
        ["Succeeded: sync: suppressed, async: suppressed"]
    );
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors.first().error().to_string(),
        "after the suppression: kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_exit_handler_sees_async_errors() {
    let mut stack = AsyncExitStack::new();
    stack.push_exit(|exit| Flow::suppress_if(exit.error().is_some_and(|e| e.to_string() == "io")));
    stack.push_async_callback(|| async { Err("io") });
    stack.aclose().await.unwrap();
}

/// A connection-like context that logs its enter and exit.
struct Resource {
    name: &'static str,
    log: Log,
    fail_enter: bool,
    suppress: bool,
}

impl AsyncContext for Resource {
    type Target = (&'static str, Log, bool);
    type Error = std::io::Error;

    async fn enter(self) -> std::io::Result<Self::Target> {
        tokio::task::yield_now().await;
        if self.fail_enter {
            return Err(std::io::Error::other(format!("cannot open {}", self.name)));
        }
        push(&self.log, format!("enter {}", self.name));
        Ok((self.name, self.log, self.suppress))
    }

    fn exit(
        (name, log, suppress): Self::Target,
        exit: &Exit<'_>,
    ) -> impl Future<Output = std::io::Result<Flow>> + Send + use<> {
        let failing = !exit.ending().is_success();
        async move {
            tokio::task::yield_now().await;
            push(&log, format!("exit {name} failing={failing}"));
            Ok(Flow::suppress_if(suppress))
        }
    }
}

fn resource(name: &'static str, log: &Log) -> Resource {
    Resource {
        name,
        log: log.clone(),
        fail_enter: false,
        suppress: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn contexts_enter_in_order_exit_in_reverse_and_failed_enter_registers_nothing() {
    let log = log();
    let mut stack = AsyncExitStack::new();
    let a = stack
        .enter_async_context(resource("a", &log))
        .await
        .unwrap();
    assert_eq!(a.0, "a");
    stack
        .enter_async_context(resource("b", &log))
        .await
        .unwrap();
    let failed = stack
        .enter_async_context(Resource {
            fail_enter: true,
            ..resource("c", &log)
        })
        .await;
    assert_eq!(failed.unwrap_err().to_string(), "cannot open c");
    stack.aclose().await.unwrap();
    assert_eq!(
        entries(&log),
        [
            "enter a",
            "enter b",
            "exit b failing=false",
            "exit a failing=false"
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn context_exit_can_suppress() {
    let log = log();
    let mut stack = AsyncExitStack::new();
    stack
        .enter_async_context(Resource {
            suppress: true,
            ..resource("s", &log)
        })
        .await
        .unwrap();
    stack.callback(|| Err("suppressed by the context"));
    stack.aclose().await.unwrap();
    assert_eq!(entries(&log), ["enter s", "exit s failing=false"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn handles_cancel_run_release_and_take_back() {
    let log = log();
    let mut stack = AsyncExitStack::new();
    let l = log.clone();
    stack.push_async_callback(move || async move { push(&l, "kept") });
    let l = log.clone();
    stack
        .push_async_callback(move || async move { push(&l, "cancelled") })
        .cancel();
    let l = log.clone();
    let now = stack.push_async_callback(move || async move { push(&l, "run now") });
    now.release().await.unwrap();
    let l = log.clone();
    let guard = stack.async_guard(5, move |v| async move { push(&l, format!("released {v}")) });
    guard.release().await.unwrap();
    let taken = stack.async_guard(6, |_| async { panic!("taken back, never released") });
    assert_eq!(taken.cancel(), 6);
    let failing = stack
        .push_async_callback(|| async { Err("now") })
        .label("now");
    assert_eq!(
        failing.release().await.unwrap_err().first().label(),
        Some("now")
    );
    stack.aclose().await.unwrap();
    assert_eq!(entries(&log), ["run now", "released 5", "kept"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn pop_all_moves_entries_and_push_async_stack_nests_them() {
    let log = log();
    let mut stack = AsyncExitStack::new();
    let l = log.clone();
    stack.push_async_callback(move || async move { push(&l, "moved") });
    let mut moved = stack.pop_all();
    assert!(stack.is_empty());
    stack.aclose().await.unwrap();
    assert!(entries(&log).is_empty());

    let mut outer = AsyncExitStack::new();
    let l = log.clone();
    outer.callback(move || push(&l, "outer"));
    outer.push_async_stack(moved.pop_all());
    let l = log.clone();
    outer.push_async_callback(move || async move { push(&l, "newest") });
    outer.aclose().await.unwrap();
    assert_eq!(entries(&log), ["newest", "moved", "outer"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn entries_registered_during_aclose_run_next() {
    let log = log();
    let mut stack = AsyncExitStack::new();
    let l = log.clone();
    stack.callback(move || push(&l, "last"));
    let l = log.clone();
    stack.callback_with_stack(move |stack| {
        let l2 = l.clone();
        stack.callback(move || push(&l2, "registered during unwind"));
        push(&l, "first");
    });
    stack.aclose().await.unwrap();
    assert_eq!(entries(&log), ["first", "registered during unwind", "last"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn conditional_entries_see_the_async_ending() {
    let log = log();
    let mut stack = AsyncExitStack::new();
    let l = log.clone();
    stack.callback_on_error(move || push(&l, "on error"));
    let l = log.clone();
    stack.callback_on_success(move || push(&l, "on success"));
    let l = log.clone();
    stack.push_async_exit(move |exit| {
        assert_eq!(exit.ending(), Ending::Succeeded);
        async move {
            push(&l, "async exit");
            Flow::Propagate
        }
    });
    stack.aclose().await.unwrap();
    assert_eq!(entries(&log), ["async exit", "on success"]);
}
