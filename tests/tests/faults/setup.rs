//! Fault injection on a realistic set-up (the "test fixture" pattern, with "all-or-nothing",
//! "temporary directories" and "unconditional cleanup"): a work directory, three files in it, a
//! listening socket, a server thread, a lock file and a health check, each acquisition registered
//! on one stack that is handed to the caller with `pop_all` only when all of them succeeded; the
//! caller then uses it in `ExitStack::scope`.
//!
//! Every acquisition step in turn fails, or panics; independently, every release step in turn
//! fails or panics (after releasing); and the scope's body fails or not. For every combination
//! (510 runs) the test asserts that no file, directory, descriptor, listening port or thread is
//! left, and that every injected fault shows up exactly once: as the returned error, a cleanup
//! error, the resumed panic, or on the report channel.
//!
//! Not under Miri: it needs sockets, threads blocking in `accept` and `/proc/self/fd`.
#![cfg(not(miri))]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::support::{assert_reported_once, faults, leaked_by_rustc, observe};
use crate::support::{beside_others, quiet_injected_panics, raw};
use crate::support::{Created, Fault, Injector, Produced};
use exitstack::ExitStack;

const ACQUIRE_STEPS: usize = 8;
const RELEASE_STEPS: usize = 7;

/// Acquires everything, each step guarded; hands the stack over only if all succeeded.
fn set_up(inject: &Rc<Injector>, created: &Created) -> io::Result<(ExitStack<'static>, u16)> {
    let mut stack = ExitStack::new();
    let release = |inject: &Rc<Injector>| {
        let inject = Rc::clone(inject);
        move || inject.release()
    };

    inject.acquire()?;
    let dir = tempfile::Builder::new()
        .prefix("exitstack-faults-")
        .tempdir()?;
    let dir_path = dir.path().to_owned();
    created.paths.borrow_mut().push(dir_path.clone());
    let then = release(inject);
    let _ = stack
        .guard(dir, move |dir| dir.close().and_then(|()| then()))
        .label("work dir");

    for part in 0..3 {
        inject.acquire()?;
        let path = dir_path.join(format!("part-{part}"));
        let file = std::fs::File::create(&path)?;
        created.paths.borrow_mut().push(path.clone());
        created.fd(raw(&file));
        let then = release(inject);
        let _ = stack.guard((file, path), move |(file, path)| {
            drop(file);
            std::fs::remove_file(path).and_then(|()| then())
        });
    }

    inject.acquire()?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    created.ports.borrow_mut().push(port);
    created.fd(raw(&listener));
    let then = release(inject);
    let listener = stack.guard(listener, move |listener| {
        drop(listener);
        then()
    });

    inject.acquire()?;
    let accepting = listener.try_clone()?;
    created.fd(raw(&accepting));
    let stop = Arc::new(AtomicBool::new(false));
    let running = Arc::clone(&created.servers_running);
    *running.lock().unwrap() += 1;
    let stopping = Arc::clone(&stop);
    let server = std::thread::spawn(move || {
        for connection in accepting.incoming() {
            if stopping.load(Ordering::SeqCst) {
                break;
            }
            let _ = connection.and_then(|mut stream| stream.write_all(b"ok"));
        }
        drop(accepting);
        *running.lock().unwrap() -= 1;
    });
    let then = release(inject);
    let _ = stack.callback(move || {
        stop.store(true, Ordering::SeqCst);
        drop(TcpStream::connect(("127.0.0.1", port))); // wakes `accept`
        server
            .join()
            .map_err(|_| io::Error::other("server thread panicked"))?;
        then()
    });

    inject.acquire()?;
    let lock = dir_path.join("lock");
    let file = std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&lock)?;
    created.paths.borrow_mut().push(lock.clone());
    created.fd(raw(&file));
    let then = release(inject);
    let _ = stack.guard((file, lock), move |(file, lock)| {
        drop(file);
        std::fs::remove_file(lock).and_then(|()| then())
    });

    inject.acquire()?;
    health(port)?;
    Ok((stack.pop_all(), port))
}

fn health(port: u16) -> io::Result<()> {
    let mut answer = String::new();
    TcpStream::connect(("127.0.0.1", port))?.read_to_string(&mut answer)?;
    match answer.as_str() {
        "ok" => Ok(()),
        other => Err(io::Error::other(format!("unhealthy: {other:?}"))),
    }
}

fn run(acquire: Fault, release: Fault, body_fails: bool) -> (Produced, Vec<String>) {
    let inject = Rc::new(Injector::new(acquire, release));
    let created = Created::default();
    let produced = observe(|| -> Vec<String> {
        let (service, port) = match set_up(&inject, &created) {
            Ok(service) => service,
            Err(error) => return vec![error.to_string()],
        };
        let outcome = ExitStack::scope(|stack| {
            stack.push_stack(service);
            health(port)?;
            match body_fails {
                true => Err(io::Error::other("injected body error")),
                false => Ok(port),
            }
        });
        match outcome {
            Ok(_) => Vec::new(),
            Err(error) if error.is_suppressed() => panic!("nothing suppresses: {error}"),
            Err(error) => {
                let (body, _, cleanup) = error.into_parts();
                let body = body.map(|error| error.to_string());
                let cleanup = cleanup.into_iter().flatten().map(|e| e.to_string());
                body.into_iter().chain(cleanup).collect()
            }
        }
    });
    created.assert_all_released();
    let mut fired = inject.fired.borrow().clone();
    if body_fails && acquire == Fault::None {
        fired.push("injected body error".to_owned());
    }
    (produced, fired)
}

#[test]
fn every_fault_at_every_step_is_reported_once_and_leaves_nothing_behind() {
    let _process = beside_others();
    quiet_injected_panics();
    let mut runs = 0;
    let mut injected = 0;
    for acquire in faults(ACQUIRE_STEPS) {
        for release in faults(RELEASE_STEPS) {
            for body_fails in [false, true] {
                if leaked_by_rustc(acquire, release) {
                    continue;
                }
                let (produced, fired) = run(acquire, release, body_fails);
                let case = format!("{acquire:?} {release:?} body fails: {body_fails}");
                runs += 1;
                injected += fired.len();
                if let Fault::Fail(_) | Fault::Panic(_) = acquire {
                    assert!(fired.iter().any(|f| f.contains("acquire")), "{case}");
                }
                // A `?` error travelling through a stack whose cleanup panics is dropped by
                // that panic (Rust drops the error being returned): the panic carries on.
                let lost = matches!(acquire, Fault::Fail(_))
                    && fired
                        .iter()
                        .any(|f| f.contains("release") && f.ends_with("panicked"));
                let lost: Vec<String> = match lost {
                    true => fired
                        .iter()
                        .filter(|f| f.contains("acquire"))
                        .cloned()
                        .collect(),
                    false => Vec::new(),
                };
                assert_reported_once(&case, &produced, &fired, &lost);
            }
        }
    }
    let skipped = if leaked_by_rustc(Fault::Fail(0), Fault::Panic(0)) {
        8 * 7 * 2
    } else {
        0
    };
    assert_eq!(runs + skipped, 17 * 15 * 2);
    eprintln!("faults::setup: {runs} runs, {injected} faults injected, nothing left behind");
}
