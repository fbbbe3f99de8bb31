//! A tokio echo server on loopback for the tests that open real connections (the async pool
//! pattern, and the same pool in a spawned task), an address nothing listens on, and the pooled
//! connection both enter: opened by an async `enter`, closed by an awaited `exit`.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use exitstack::{AsyncContext, Exit, Flow};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

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

/// One pooled connection: opened by `enter`, closed (awaited) by `exit`.
pub struct Connection {
    pub addr: SocketAddr,
    pub id: usize,
    pub closed: Arc<Mutex<Vec<usize>>>,
}

/// An open pooled connection.
pub struct Conn {
    pub id: usize,
    pub stream: TcpStream,
    pub closed: Arc<Mutex<Vec<usize>>>,
}

impl Conn {
    /// Sends `message` and reads the echo.
    pub async fn echo(&mut self, message: &[u8]) -> io::Result<Vec<u8>> {
        self.stream.write_all(message).await?;
        let mut reply = vec![0; message.len()];
        self.stream.read_exact(&mut reply).await?;
        Ok(reply)
    }
}

impl AsyncContext for Connection {
    type Target = Conn;
    type Error = io::Error;

    async fn enter(self) -> io::Result<Conn> {
        let stream = TcpStream::connect(self.addr).await?;
        let mut conn = Conn {
            id: self.id,
            stream,
            closed: self.closed,
        };
        // A round trip proves the server has accepted (and counted) the connection: `connect`
        // alone returns once the kernel completed the handshake, possibly before `accept`.
        conn.echo(b"ping").await?;
        Ok(conn)
    }

    fn exit(mut conn: Conn, _: &Exit<'_>) -> impl Future<Output = io::Result<Flow>> + Send + use<> {
        async move {
            conn.stream.shutdown().await?;
            // Wait for the server to close its side: the connection is really gone.
            let mut rest = Vec::new();
            conn.stream.read_to_end(&mut rest).await?;
            conn.closed.lock().unwrap().push(conn.id);
            Ok(Flow::Propagate)
        }
    }
}
