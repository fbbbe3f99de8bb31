//! `SendExitStack` is `Send`: it moves to another thread, and it can be held across `.await`
//! inside `tokio::spawn` on the multi-threaded runtime (which requires `Send` futures, so these
//! tests compiling is itself the proof; the assertions check the cleanups still run in order).

use std::future::Future;
use std::io::{Read, Seek, Write};
use std::thread;
use std::time::Duration;

use exitstack::SendExitStack;
use exitstack_tests::Log;

fn assert_send<T: Send>(value: T) -> T {
    value
}

#[test]
fn a_send_stack_moves_to_another_thread_and_unwinds_there() {
    let log = Log::new();
    let mut stack = assert_send(SendExitStack::new_send());
    stack.callback(log.recorder("registered on the main thread"));
    let l = log.clone();
    let (stack, unwound_on) = thread::spawn(move || {
        stack.callback(l.recorder("registered on the worker"));
        let worker = thread::current().id();
        stack.callback(move || assert_eq!(thread::current().id(), worker));
        stack.close().unwrap();
        (stack, worker)
    })
    .join()
    .unwrap();
    assert_ne!(unwound_on, thread::current().id());
    assert_eq!(
        log.take(),
        ["registered on the worker", "registered on the main thread"]
    );
    // It came back, empty and usable.
    stack.callback(log.recorder("back home"));
    drop(stack);
    assert_eq!(log.take(), ["back home"]);
}

fn spawnable<F: Future + Send + 'static>(future: F) -> F {
    future
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_stack_is_held_across_await_in_tokio_spawn() {
    let log = Log::new();
    let l = log.clone();
    let task = tokio::spawn(spawnable(async move {
        let mut stack = SendExitStack::new_send();
        stack.callback(l.recorder("first registered"));
        tokio::task::yield_now().await;
        // A value entered into the stack and used across awaits through a plain `&mut`.
        let file = stack.enter(tempfile::tempfile()?).into_mut();
        file.write_all(b"written before an await; ")?;
        tokio::time::sleep(Duration::from_millis(5)).await;
        file.write_all(b"and after it")?;
        file.rewind()?;
        let mut text = String::new();
        file.read_to_string(&mut text)?;
        stack.callback(l.recorder("registered after awaits"));
        tokio::task::yield_now().await;
        stack.close().map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(text)
    }));
    let text = task.await.unwrap().unwrap();
    assert_eq!(text, "written before an await; and after it");
    assert_eq!(
        log.entries(),
        ["registered after awaits", "first registered"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_stack_dropped_in_a_cancelled_task_still_runs_its_entries() {
    let log = Log::new();
    let l = log.clone();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let stack = SendExitStack::new_send();
        stack.callback(l.recorder("always"));
        stack.callback_on_error(l.recorder("on error"));
        stack.callback_on_success(l.recorder("on success"));
        let _ = ready_tx.send(());
        std::future::pending::<()>().await;
        drop(stack);
    });
    ready_rx.await.unwrap();
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // Aborting drops the future, and with it the stack: abandoned, so error-only entries run.
    assert_eq!(log.entries(), ["on error", "always"]);
}

#[test]
fn a_send_scope_runs_on_a_worker_thread() {
    let log = Log::new();
    let l = log.clone();
    let value = thread::spawn(move || {
        SendExitStack::scope_send(|stack| {
            stack.callback(l.recorder("released"));
            Ok::<_, std::fmt::Error>(7)
        })
    })
    .join()
    .unwrap()
    .unwrap();
    assert_eq!(value, 7);
    assert_eq!(log.entries(), ["released"]);
}
