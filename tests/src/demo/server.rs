//! The demo's loopback HTTP server and client: just enough HTTP/1.1 over std's TCP types.
//!
//! The server answers one connection at a time on `127.0.0.1:<ephemeral port>`:
//! `GET /health`, `GET /files/<name>` and `GET /files/<name>.sum` from its catalogue, and
//! `POST /audit`, which always fails with 503 (the demo's audit service is "down").

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use exitstack::Close;

use crate::Log;

/// One file the server offers, with the checksum it publishes for it.
#[derive(Clone, Debug)]
pub struct Artifact {
    /// File name, e.g. `release.tar`.
    pub name: &'static str,
    /// The bytes served at `/files/<name>`.
    pub data: Vec<u8>,
    /// The checksum served at `/files/<name>.sum` (hex FNV-1a 64).
    pub checksum: String,
}

/// A running server thread. Released through [`Close`]: stop, join, report failures.
pub struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<io::Result<usize>>>,
    log: Log,
}

impl Server {
    /// Binds `127.0.0.1:0` and serves `catalogue` on a new thread.
    pub fn start(catalogue: Vec<Artifact>, log: Log) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("demo-http".into())
            .spawn(move || serve(listener, &flag, &catalogue))?;
        Ok(Server {
            port,
            stop,
            thread: Some(thread),
            log,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Close for Server {
    type Error = io::Error;

    /// Stops the accept loop (waking it with one last connection) and joins the thread; the
    /// listening socket is closed when this returns, so the port is free again.
    fn close(mut self) -> io::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking `accept`; if the connect fails the thread is already gone.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        let thread = self.thread.take().expect("closed once");
        let served = thread
            .join()
            .map_err(|_| io::Error::other("server thread panicked"))??;
        self.log.push(format!(
            "stopped http server on port {} ({served} requests served)",
            self.port
        ));
        Ok(())
    }
}

fn serve(listener: TcpListener, stop: &AtomicBool, catalogue: &[Artifact]) -> io::Result<usize> {
    let mut served = 0;
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        // One bad client must not take the server down: answer the next one.
        if answer(stream?, catalogue).is_ok() {
            served += 1;
        }
    }
    Ok(served)
}

fn answer(stream: TcpStream, catalogue: &[Artifact]) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; content_length];
    reader.read_exact(&mut body)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, payload) = route(method, path, catalogue);
    let mut stream = reader.into_inner();
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        payload.len()
    )?;
    stream.write_all(&payload)?;
    stream.flush()
}

fn route(method: &str, path: &str, catalogue: &[Artifact]) -> (&'static str, Vec<u8>) {
    const OK: &str = "200 OK";
    match (method, path) {
        ("GET", "/health") => (OK, b"ok".to_vec()),
        ("POST", "/audit") => ("503 Service Unavailable", b"audit service down".to_vec()),
        ("GET", _) => {
            let name = path.strip_prefix("/files/").unwrap_or("");
            for artifact in catalogue {
                if name == artifact.name {
                    return (OK, artifact.data.clone());
                }
                if name.strip_suffix(".sum") == Some(artifact.name) {
                    return (OK, artifact.checksum.clone().into_bytes());
                }
            }
            ("404 Not Found", b"no such file".to_vec())
        }
        _ => ("405 Method Not Allowed", Vec::new()),
    }
}

/// Makes one HTTP request to the server on `port`; returns the status code and the body.
pub fn request(port: u16, method: &str, path: &str, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad status line"))?;
    Ok((status, raw[split + 4..].to_vec()))
}

/// FNV-1a, 64 bits, as lower-case hex: the demo's checksum.
pub fn checksum(data: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in data {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
