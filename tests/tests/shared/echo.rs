//! A tokio echo server on loopback for the tests that open real connections (the async pool
//! pattern, and the same pool in a spawned task), and an address nothing listens on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the echo server has seen.
#[derive(Default)]
pub struct ServerStats {
    pub accepted: AtomicUsize,
    pub open: AtomicUsize,
}

/// Starts an echo server on 127.0.0.1 and returns its address. Each connection echoes until
/// the client shuts down its write half; the server then counts it closed and drops it.
pub async fn echo_server() -> (SocketAddr, Arc<ServerStats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(ServerStats::default());
    let server_stats = stats.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            server_stats.accepted.fetch_add(1, Ordering::SeqCst);
            server_stats.open.fetch_add(1, Ordering::SeqCst);
            let stats = server_stats.clone();
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                loop {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if socket.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                // Counted closed before the socket drops, so a client that saw EOF sees 0.
                stats.open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, stats)
}

/// An address nothing listens on: connecting to it fails with "connection refused".
pub async fn refused_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}
