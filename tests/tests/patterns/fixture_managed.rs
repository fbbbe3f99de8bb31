//! Pattern "test fixture" with `#[managed]`: a test fixture (a temporary directory and a server
//! thread on a loopback port) built by `acquire`. If set-up fails part-way, what was created is
//! torn down at once; otherwise tear-down waits for `close` (or drop), in reverse order: the server
//! stops before its directory is removed.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use exitstack::{managed, ExitStack};
use tempfile::TempDir;

/// Answers each connection with the contents of `greeting.txt` in its directory.
struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<()>>,
}

impl Server {
    fn start(dir: &Path) -> io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let greeting = dir.join("greeting.txt");
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if flag.load(Ordering::SeqCst) {
                    break;
                }
                let mut stream = stream?;
                stream.write_all(&std::fs::read(&greeting)?)?;
            }
            Ok(())
        });
        Ok(Server { addr, stop, thread })
    }

    /// Stops the thread and returns its error, if it failed.
    fn stop(self) -> io::Result<()> {
        self.stop.store(true, Ordering::SeqCst);
        drop(TcpStream::connect(self.addr)); // wake the accept loop
        self.thread.join().expect("server thread panicked")
    }
}

#[managed]
struct Fixture {
    #[managed(close = TempDir::close, label = "temporary directory")]
    dir: TempDir,
    #[managed(close = Server::stop)]
    server: Server,
    log: File,
}

fn set_up(log_name: &str) -> Result<Fixture, exitstack::RollbackError<io::Error>> {
    Fixture::acquire(
        tempfile::tempdir,
        |dir| {
            std::fs::write(dir.path().join("greeting.txt"), b"hello")?;
            Server::start(dir.path())
        },
        |dir, _server| File::create(dir.path().join(log_name)),
    )
}

fn fetch(addr: SocketAddr) -> io::Result<String> {
    let mut reply = String::new();
    TcpStream::connect(addr)?.read_to_string(&mut reply)?;
    Ok(reply)
}

#[test]
fn set_up_succeeds_and_tear_down_waits_for_close() {
    let mut fixture = set_up("log.txt").unwrap();
    let dir: PathBuf = fixture.dir.path().to_owned();
    let addr = fixture.server.addr;
    assert_eq!(fetch(addr).unwrap(), "hello");
    fixture.log.write_all(b"served one\n").unwrap();
    fixture.close().unwrap();
    assert!(!dir.exists(), "the directory is removed");
    assert!(fetch(addr).is_err(), "the server is stopped");
}

#[test]
fn set_up_failing_part_way_tears_down_what_was_created() {
    // The third acquisition fails (its directory does not exist): the server stops and the
    // directory is removed before `acquire` returns.
    let error = set_up("missing-dir/log.txt").err().unwrap();
    assert_eq!(error.error().kind(), io::ErrorKind::NotFound);
    assert!(error.teardown_errors().is_none());
}

#[test]
fn rollback_order_and_errors_are_reported_with_the_acquisition_error() {
    let mut seen_dir = None;
    let mut seen_addr = None;
    let error = Fixture::acquire(
        || {
            let dir = tempfile::tempdir()?;
            seen_dir = Some(dir.path().to_owned());
            Ok(dir)
        },
        |dir| {
            let server = Server::start(dir.path())?;
            seen_addr = Some(server.addr);
            // Remove the directory behind the fixture's back, so removing it again fails.
            std::fs::remove_dir(dir.path())?;
            Ok(server)
        },
        |_, _| Err(io::Error::other("log refused")),
    )
    .err()
    .unwrap();
    assert_eq!(error.error().to_string(), "log refused");
    let teardown = error.teardown_errors().unwrap();
    assert_eq!(teardown.len(), 1);
    assert_eq!(teardown.first().label(), Some("temporary directory"));
    assert!(!seen_dir.unwrap().exists());
    assert!(
        fetch(seen_addr.unwrap()).is_err(),
        "stopped before returning"
    );
}

#[test]
fn entered_in_a_stack_it_is_released_with_the_stack() {
    let mut stack = ExitStack::new();
    let fixture = stack.enter(set_up("log.txt").unwrap());
    let dir = fixture.dir.path().to_owned();
    assert_eq!(fetch(fixture.server.addr).unwrap(), "hello");
    stack.close().unwrap();
    assert!(!dir.exists());
}
