//! The README's pool pattern in a spawned task (issue 10): `enter_async_context(..).await` on a
//! `SendAsyncExitStack` holds `&stack` across the `enter` it awaits, and the handles it returns
//! are held across more awaits, all inside `tokio::spawn` on a multi-threaded runtime. Real
//! loopback TCP connections to a tokio echo server; they close newest first, and a failure to
//! open one closes the others and comes back as the task's error.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use exitstack::SendAsyncExitStack;

use crate::echo::{echo_server, refused_addr, Conn, Connection};

/// Uses two pooled connections at once: holds both handles across awaits.
async fn use_both(a: &mut Conn, b: &mut Conn) -> io::Result<()> {
    assert_eq!(a.echo(b"to a").await?, b"to a");
    tokio::task::yield_now().await;
    assert_eq!(b.echo(b"to b").await?, b"to b");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_pattern_runs_in_a_spawned_scope_send() {
    let (addr, stats) = echo_server().await;
    let closed = Arc::new(Mutex::new(Vec::new()));
    let pool_closed = closed.clone();
    let task = tokio::spawn(async move {
        SendAsyncExitStack::scope_send(|stack| {
            Box::pin(async move {
                let connect = |id| Connection {
                    addr,
                    id,
                    closed: pool_closed.clone(),
                };
                let mut a = stack.enter_async_context(connect(1)).await?;
                let mut b = stack.enter_async_context(connect(2)).await?;
                use_both(&mut a, &mut b).await?;
                let c = stack.enter_async_context(connect(3)).await?;
                tokio::task::yield_now().await;
                assert_eq!((a.id, b.id, c.id), (1, 2, 3));
                Ok::<_, io::Error>(())
            })
        })
        .await
    });
    task.await.unwrap().unwrap();
    assert_eq!(*closed.lock().unwrap(), [3, 2, 1]);
    assert_eq!(stats.open.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_open_in_a_spawned_scope_closes_the_others_and_returns_the_error() {
    let (addr, stats) = echo_server().await;
    let refused = refused_addr().await;
    let closed = Arc::new(Mutex::new(Vec::new()));
    let pool_closed = closed.clone();
    let task = tokio::spawn(async move {
        SendAsyncExitStack::scope_send(|stack| {
            Box::pin(async move {
                for id in 1..=4 {
                    let conn = Connection {
                        addr,
                        id,
                        closed: pool_closed.clone(),
                    };
                    stack.enter_async_context(conn).await?;
                }
                let fifth = Connection {
                    addr: refused,
                    id: 5,
                    closed: pool_closed.clone(),
                };
                stack.enter_async_context(fifth).await?;
                Ok::<_, io::Error>(()) // not reached: the fifth is refused
            })
        })
        .await
    });
    let failed = task
        .await
        .unwrap()
        .expect_err("the fifth connection is refused");
    assert!(failed.cleanup_errors().is_none(), "{failed:?}");
    let error = failed.body_error().expect("the body's own error");
    assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    assert_eq!(*closed.lock().unwrap(), [4, 3, 2, 1]);
    assert_eq!(stats.open.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_task_owns_a_send_stack_and_closes_it_with_aclose() {
    let (addr, stats) = echo_server().await;
    let closed = Arc::new(Mutex::new(Vec::new()));
    let pool_closed = closed.clone();
    let task = tokio::spawn(async move {
        let mut stack = SendAsyncExitStack::new_send();
        let connect = |id| Connection {
            addr,
            id,
            closed: pool_closed.clone(),
        };
        {
            let mut a = stack.enter_async_context(connect(1)).await?;
            let mut b = stack.enter_async_context(connect(2)).await?;
            use_both(&mut a, &mut b).await?;
            // A sync registration's handle, held across an await too.
            let mut names = stack.enter(Vec::new());
            tokio::task::yield_now().await;
            names.push(a.id);
        }
        stack.aclose().await.map_err(io::Error::other)
    });
    task.await.unwrap().unwrap();
    assert_eq!(*closed.lock().unwrap(), [2, 1]);
    assert_eq!(stats.open.load(Ordering::SeqCst), 0);
}
