//! Pattern "test fixture": set-up creates a temp dir and starts a server thread; if set-up
//! fails part-way, what was created is cleaned up at once; otherwise cleanup waits until
//! tear-down. A real loopback HTTP server (`exitstack_tests::demo::Server`).

use std::net::TcpListener;
use std::path::PathBuf;

use exitstack::ExitStack;
use exitstack_tests::demo::{request, Artifact, Server};
use exitstack_tests::Log;

/// Where set-up can be made to fail.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FailAt {
    Nowhere,
    AfterDir,
    AfterServer,
}

struct Fixture {
    dir: PathBuf,
    port: u16,
    teardown: ExitStack<'static>,
}

fn set_up(fail: FailAt, log: &Log, made: &mut Vec<String>) -> Result<Fixture, String> {
    let mut stack = ExitStack::new();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let path = dir.path().to_owned();
    made.push(path.display().to_string());
    stack
        .guard(dir, tempfile::TempDir::close)
        .label("fixture dir");
    if fail == FailAt::AfterDir {
        return Err("failed after the dir".into());
    }
    let catalogue = vec![Artifact {
        name: "hello.txt",
        data: b"hello".to_vec(),
        checksum: String::new(),
    }];
    let server = Server::start(catalogue, log.clone()).map_err(|e| e.to_string())?;
    let port = stack.enter_closing(server).label("server").port();
    made.push(port.to_string());
    if fail == FailAt::AfterServer {
        return Err("failed after the server".into());
    }
    Ok(Fixture {
        dir: path,
        port,
        teardown: stack.pop_all(),
    })
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

#[test]
fn a_fixture_lives_until_tear_down() {
    let log = Log::new();
    let mut fixture = set_up(FailAt::Nowhere, &log, &mut Vec::new()).unwrap();
    assert!(fixture.dir.is_dir());
    let (status, body) = request(fixture.port, "GET", "/files/hello.txt", b"").unwrap();
    assert_eq!((status, &body[..]), (200, &b"hello"[..]));
    assert!(
        log.entries().is_empty(),
        "nothing released before tear-down"
    );
    fixture.teardown.close().unwrap();
    assert!(!fixture.dir.exists());
    assert!(port_is_free(fixture.port));
    assert_eq!(
        log.entries().len(),
        1,
        "the server stopped once: {:?}",
        log.entries()
    );
}

#[test]
fn a_set_up_failing_after_the_server_started_cleans_up_at_once() {
    let log = Log::new();
    let mut made = Vec::new();
    let error = set_up(FailAt::AfterServer, &log, &mut made).err().unwrap();
    assert_eq!(error, "failed after the server");
    let [dir, port] = &made[..] else {
        panic!("{made:?}")
    };
    assert!(!PathBuf::from(dir).exists());
    let port: u16 = port.parse().unwrap();
    assert!(port_is_free(port));
    assert!(log.entries()[0].starts_with("stopped http server"));
}

#[test]
fn a_set_up_failing_before_the_server_removes_the_dir() {
    let log = Log::new();
    let mut made = Vec::new();
    let error = set_up(FailAt::AfterDir, &log, &mut made).err().unwrap();
    assert_eq!(error, "failed after the dir");
    assert_eq!(made.len(), 1);
    assert!(!PathBuf::from(&made[0]).exists());
    assert!(log.entries().is_empty(), "no server was started");
}
