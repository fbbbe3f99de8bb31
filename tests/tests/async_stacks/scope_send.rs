//! The async scope function (Ok, Err, suppressed Err, cleanup errors) and `Send`: a
//! `SendAsyncExitStack` held across `.await` in spawned tasks on the multi-threaded runtime.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use exitstack::{AsyncContext, AsyncExitStack, Ending, Exit, Flow, SendAsyncExitStack};

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_ok_runs_cleanups_and_returns_the_value() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    let outcome = AsyncExitStack::scope(async move |stack| {
        let l1 = l.clone();
        stack.push_async_exit(move |exit| {
            let ending = exit.ending();
            async move {
                l1.lock().unwrap().push(format!("{ending:?}"));
                Flow::Propagate
            }
        });
        let l2 = l.clone();
        stack.callback_on_success(move || l2.lock().unwrap().push("success".into()));
        tokio::task::yield_now().await;
        Ok::<_, io::Error>(42)
    })
    .await
    .unwrap();
    assert_eq!(outcome, 42);
    assert_eq!(*log.lock().unwrap(), ["success", "Succeeded"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_err_is_seen_by_async_handlers_and_returned() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let error = AsyncExitStack::scope(async move |stack| {
        stack.push_async_exit(move |exit| {
            let view = (
                exit.ending(),
                exit.error().map(|e| e.to_string()),
                exit.is_scope_error(),
            );
            async move {
                s.lock().unwrap().push(view);
                Flow::Propagate
            }
        });
        Err::<(), _>(io::Error::other("body failed"))
    })
    .await
    .unwrap_err();
    assert_eq!(error.body_error().unwrap().to_string(), "body failed");
    assert!(error.cleanup_errors().is_none());
    assert_eq!(
        *seen.lock().unwrap(),
        [(Ending::Failed, Some("body failed".to_string()), true)]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_err_suppressed_by_an_async_handler() {
    let outcome = AsyncExitStack::scope(async |stack| {
        stack.push_async_exit(|exit| {
            let interrupted = exit
                .error()
                .and_then(|e| e.downcast_ref::<io::Error>())
                .is_some_and(|e| e.kind() == io::ErrorKind::Interrupted);
            async move { Flow::suppress_if(interrupted) }
        });
        Err::<(), _>(io::Error::from(io::ErrorKind::Interrupted))
    })
    .await
    .unwrap_err();
    assert!(outcome.is_suppressed());
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_suppressed_then_a_later_cleanup_fails() {
    let error = AsyncExitStack::scope(async |stack| {
        stack.push_async_callback(|| async { Err("cleanup failed after") });
        stack.push_async_exit(|_| async { Flow::Suppress });
        Err::<(), _>(io::Error::other("suppressed body error"))
    })
    .await
    .unwrap_err();
    assert!(error.body_error().is_none());
    assert_eq!(
        error.suppressed_error().unwrap().to_string(),
        "suppressed body error"
    );
    assert_eq!(error.cleanup_errors().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_body_can_hand_resources_out_with_pop_all() {
    let closed = Arc::new(AtomicUsize::new(0));
    let c = closed.clone();
    let mut kept = AsyncExitStack::scope(async move |stack| {
        stack.push_async_callback(move || async move {
            c.fetch_add(1, Ordering::SeqCst);
        });
        Ok::<_, io::Error>(stack.pop_all())
    })
    .await
    .unwrap();
    assert_eq!(closed.load(Ordering::SeqCst), 0);
    kept.aclose().await.unwrap();
    assert_eq!(closed.load(Ordering::SeqCst), 1);
}

struct Lease(Arc<AtomicUsize>);

impl AsyncContext for Lease {
    type Target = Arc<AtomicUsize>;
    type Error = io::Error;

    async fn enter(self) -> io::Result<Arc<AtomicUsize>> {
        tokio::task::yield_now().await;
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(self.0)
    }

    fn exit(
        leases: Arc<AtomicUsize>,
        _: &Exit<'_>,
    ) -> impl Future<Output = io::Result<Flow>> + Send + use<> {
        async move {
            tokio::task::yield_now().await;
            leases.fetch_sub(1, Ordering::SeqCst);
            Ok(Flow::Propagate)
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn send_stack_is_held_across_await_in_spawned_tasks() {
    let leases = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let leases = leases.clone();
        tasks.push(tokio::spawn(assert_send(async move {
            let mut stack = SendAsyncExitStack::new_send();
            let log = Arc::new(Mutex::new(Vec::new()));
            let l = log.clone();
            stack.callback(move || l.lock().unwrap().push("sync"));
            let target = Lease(leases.clone()).enter().await.unwrap();
            let lease = stack.push_async_context::<Lease>(target).into_mut();
            tokio::task::yield_now().await; // the stack and the lease are held across .await
            assert!(lease.load(Ordering::SeqCst) >= 1);
            let l = log.clone();
            stack.push_async_callback(move || async move {
                tokio::task::yield_now().await;
                l.lock().unwrap().push("async");
            });
            tokio::task::yield_now().await;
            stack.aclose().await.unwrap();
            let log = log.lock().unwrap().clone();
            log
        })));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), ["async", "sync"]);
    }
    assert_eq!(leases.load(Ordering::SeqCst), 0, "every lease was released");
}

#[tokio::test(flavor = "multi_thread")]
async fn scope_send_runs_in_a_spawned_task() {
    let closed = Arc::new(AtomicUsize::new(0));
    let c = closed.clone();
    let task = tokio::spawn(assert_send(SendAsyncExitStack::scope_send(move |stack| {
        Box::pin(async move {
            let c1 = c.clone();
            stack.push_async_callback(move || async move {
                tokio::task::yield_now().await;
                c1.fetch_add(1, Ordering::SeqCst);
            });
            tokio::task::yield_now().await;
            stack.callback(move || {
                c.fetch_add(1, Ordering::SeqCst);
            });
            Ok::<_, io::Error>("done")
        })
    })));
    let outcome = task.await.unwrap().unwrap();
    assert_eq!(outcome, "done");
    assert_eq!(closed.load(Ordering::SeqCst), 2);
}
