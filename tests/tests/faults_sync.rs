//! Fault injection on a realistic set-up (pattern P6 with P4/P5/P11): a work directory, three
//! files in it, a listening socket, a server thread, a lock file and a health check, each
//! acquisition registered on one stack that is handed to the caller with `pop_all` only when
//! all of them succeeded; the caller then uses it in `ExitStack::scope`.
//!
//! Every acquisition step in turn fails, or panics; independently, every release step in turn
//! fails or panics (after releasing); and the scope's body fails or not. For every combination
//! (510 runs) the test asserts that no file, directory, descriptor, listening port or thread is
//! left, and that every injected fault shows up exactly once: as the returned error, a cleanup
//! error, the resumed panic, or on the report channel.
//!
//! Not under Miri: it needs sockets, threads blocking in `accept` and `/proc/self/fd`.
#![cfg(not(miri))]

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use exitstack::{report, ExitStack, Outcome};

const ACQUIRE_STEPS: usize = 8;
const RELEASE_STEPS: usize = 7;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    Fail(usize),
    Panic(usize),
}

/// Decides, step by step, whether to inject; remembers what it injected.
struct Injector {
    acquire: Fault,
    release: Fault,
    acquired: Cell<usize>,
    released: Cell<usize>,
    fired: RefCell<Vec<String>>,
}

impl Injector {
    fn strike(&self, fault: Fault, counter: &Cell<usize>, what: &str) -> io::Result<()> {
        let step = counter.get();
        counter.set(step + 1);
        let message = format!("injected {what} {step}");
        match fault {
            Fault::Fail(at) if at == step => {
                self.fired.borrow_mut().push(format!("{message} failed"));
                Err(io::Error::other(format!("{message} failed")))
            }
            Fault::Panic(at) if at == step => {
                self.fired.borrow_mut().push(format!("{message} panicked"));
                panic!("{message} panicked")
            }
            _ => Ok(()),
        }
    }

    /// Called before each acquisition.
    fn acquire(&self) -> io::Result<()> {
        self.strike(self.acquire, &self.acquired, "acquire")
    }

    /// Called by each cleanup, after it released its resource.
    fn release(&self) -> io::Result<()> {
        self.strike(self.release, &self.released, "release")
    }
}

/// What the set-up created, to check afterwards that all of it is gone.
#[derive(Default)]
struct Created {
    paths: RefCell<Vec<PathBuf>>,
    /// Descriptor number and what `/proc/self/fd` said it was when opened.
    fds: RefCell<Vec<(i32, PathBuf)>>,
    ports: RefCell<Vec<u16>>,
    servers_running: Arc<Mutex<usize>>,
}

impl Created {
    fn fd(&self, fd: i32) {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("fd is open");
        self.fds.borrow_mut().push((fd, link));
    }

    fn assert_all_released(&self) {
        for path in self.paths.borrow().iter() {
            assert!(!path.exists(), "left behind: {}", path.display());
        }
        for (fd, was) in self.fds.borrow().iter() {
            // The number may be reused by another test, but not for the same file or socket.
            let now = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok();
            assert_ne!(now.as_ref(), Some(was), "descriptor {fd} still open");
        }
        for port in self.ports.borrow().iter() {
            TcpListener::bind(("127.0.0.1", *port)).expect("port still listening");
        }
        assert_eq!(
            *self.servers_running.lock().unwrap(),
            0,
            "server thread left"
        );
    }
}

fn raw(fd: &impl std::os::fd::AsRawFd) -> i32 {
    fd.as_raw_fd()
}

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
        .try_guard(dir, move |dir| dir.close().and_then(|()| then()))
        .label("work dir");

    for part in 0..3 {
        inject.acquire()?;
        let path = dir_path.join(format!("part-{part}"));
        let file = std::fs::File::create(&path)?;
        created.paths.borrow_mut().push(path.clone());
        created.fd(raw(&file));
        let then = release(inject);
        let _ = stack.try_guard((file, path), move |(file, path)| {
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
    let listener = stack.try_guard(listener, move |listener| {
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
    let _ = stack.try_callback(move || {
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
    let _ = stack.try_guard((file, lock), move |(file, lock)| {
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

/// Everything a run produced, as text.
#[derive(Debug, Default)]
struct Produced {
    outputs: Vec<String>,
    panic: Option<String>,
}

fn run(acquire: Fault, release: Fault, body_fails: bool) -> (Produced, Vec<String>) {
    let inject = Rc::new(Injector {
        acquire,
        release,
        acquired: Cell::new(0),
        released: Cell::new(0),
        fired: RefCell::default(),
    });
    let created = Created::default();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let mut produced = Produced::default();
    let result = report::with_reporter(
        move |report| sink.lock().unwrap().push(report.error().to_string()),
        || {
            catch_unwind(AssertUnwindSafe(|| -> Vec<String> {
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
                    Ok(Outcome::Completed(_)) => Vec::new(),
                    Ok(Outcome::Suppressed(error)) => panic!("nothing suppresses: {error}"),
                    Err(error) => {
                        let (body, _, cleanup) = error.into_parts();
                        let body = body.map(|error| error.to_string());
                        let cleanup = cleanup.into_iter().flatten().map(|e| e.to_string());
                        body.into_iter().chain(cleanup).collect()
                    }
                }
            }))
        },
    );
    match result {
        Ok(outputs) => produced.outputs = outputs,
        Err(payload) => produced.panic = Some(panic_text(&*payload)),
    }
    produced.outputs.extend(reports.lock().unwrap().drain(..));
    created.assert_all_released();
    let mut fired = inject.fired.borrow().clone();
    if body_fails && acquire == Fault::None {
        fired.push("injected body error".to_owned());
    }
    (produced, fired)
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<String>(),
        payload.downcast_ref::<&str>(),
    ) {
        (Some(text), _) => text.clone(),
        (None, Some(text)) => (*text).to_owned(),
        (None, None) => "<non-string panic>".to_owned(),
    }
}

fn faults(steps: usize) -> Vec<Fault> {
    let each = (0..steps).flat_map(|step| [Fault::Fail(step), Fault::Panic(step)]);
    std::iter::once(Fault::None).chain(each).collect()
}

/// Hides the default panic message of injected panics only.
fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !panic_text(info.payload()).starts_with("injected") {
            default(info);
        }
    }));
}

#[test]
fn every_fault_at_every_step_is_reported_once_and_leaves_nothing_behind() {
    quiet_injected_panics();
    let mut runs = 0;
    let mut injected = 0;
    for acquire in faults(ACQUIRE_STEPS) {
        for release in faults(RELEASE_STEPS) {
            for body_fails in [false, true] {
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
                let everything: Vec<&String> =
                    produced.outputs.iter().chain(&produced.panic).collect();
                for fault in &fired {
                    let times = everything
                        .iter()
                        .filter(|text| text.contains(fault.as_str()))
                        .count();
                    let expected = usize::from(!(lost && fault.contains("acquire")));
                    assert_eq!(times, expected, "{case}: {fault:?} in {produced:?}");
                }
                for text in &everything {
                    assert!(
                        fired.iter().any(|fault| text.contains(fault.as_str())),
                        "{case}: unexpected {text:?}"
                    );
                }
            }
        }
    }
    assert_eq!(runs, 17 * 15 * 2);
    eprintln!("faults_sync: {runs} runs, {injected} faults injected, nothing left behind");
}
