//! Pattern "async pool": real loopback TCP connections to a tokio echo server, each
//! opened by an async `enter` and closed by an awaited `exit` (shut down the write half, then
//! wait for the server to close its side), many of them entered in one `AsyncExitStack`.
//! A failure while opening the fifth closes the four already open, newest first.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use exitstack::AsyncExitStack;

use crate::echo::{echo_server, refused_addr, Connection};

#[tokio::test(flavor = "multi_thread")]
async fn many_connections_entered_in_one_stack_are_closed_newest_first() {
    const N: usize = 32;
    let (addr, stats) = echo_server().await;
    let closed = Arc::new(Mutex::new(Vec::new()));
    let mut stack = AsyncExitStack::new();
    let mut conns = Vec::new();
    for id in 0..N {
        let conn = stack
            .enter_async_context(Connection {
                addr,
                id,
                closed: closed.clone(),
            })
            .await
            .unwrap();
        conns.push(conn.into_mut());
    }
    for conn in &mut conns {
        let message = format!("hello from {}", conn.id);
        assert_eq!(
            conn.echo(message.as_bytes()).await.unwrap(),
            message.as_bytes()
        );
    }
    assert_eq!(stats.open.load(Ordering::SeqCst), N);
    drop(conns);

    stack.aclose().await.unwrap();
    assert_eq!(
        stats.open.load(Ordering::SeqCst),
        0,
        "every connection closed on exit"
    );
    assert_eq!(stats.accepted.load(Ordering::SeqCst), N);
    let expected: Vec<usize> = (0..N).rev().collect();
    assert_eq!(*closed.lock().unwrap(), expected);
}

/// Opens `count` connections, the one at `refuse_at` (if any) to an address that refuses;
/// hands the open pool to the caller only if every connection opened.
async fn open_pool(
    addr: SocketAddr,
    count: usize,
    refuse_at: Option<usize>,
    closed: &Arc<Mutex<Vec<usize>>>,
) -> Result<AsyncExitStack<'static>, exitstack::ScopeError<io::Error>> {
    let refused = refused_addr().await;
    let closed = closed.clone();
    let outcome = AsyncExitStack::scope(async move |stack| {
        for id in 0..count {
            let addr = if Some(id) == refuse_at { refused } else { addr };
            let closed = closed.clone();
            stack
                .enter_async_context(Connection { addr, id, closed })
                .await?;
        }
        Ok(stack.pop_all())
    })
    .await?;
    Ok(outcome)
}

#[tokio::test(flavor = "multi_thread")]
async fn failure_opening_the_fifth_closes_the_four_already_open() {
    let (addr, stats) = echo_server().await;
    let closed = Arc::new(Mutex::new(Vec::new()));
    let error = open_pool(addr, 8, Some(4), &closed).await.unwrap_err();
    let body = error
        .body_error()
        .expect("the connect error is the scope's error");
    assert_eq!(body.kind(), io::ErrorKind::ConnectionRefused);
    assert!(error.cleanup_errors().is_none());
    assert_eq!(
        stats.accepted.load(Ordering::SeqCst),
        4,
        "the fifth never connected"
    );
    assert_eq!(
        stats.open.load(Ordering::SeqCst),
        0,
        "the four open ones were closed"
    );
    assert_eq!(*closed.lock().unwrap(), [3, 2, 1, 0]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_that_opened_is_handed_to_the_caller_and_closed_later() {
    let (addr, stats) = echo_server().await;
    let closed = Arc::new(Mutex::new(Vec::new()));
    let mut pool = open_pool(addr, 5, None, &closed).await.unwrap();
    assert_eq!(
        stats.open.load(Ordering::SeqCst),
        5,
        "still open: the caller owns them"
    );
    assert!(closed.lock().unwrap().is_empty());
    pool.aclose().await.unwrap();
    assert_eq!(stats.open.load(Ordering::SeqCst), 0);
    assert_eq!(*closed.lock().unwrap(), [4, 3, 2, 1, 0]);
}
