//! Shared by the fault-injection tests: an [`Injector`] that fails or panics at step `k` of
//! the acquisitions or of the releases and remembers what it injected, a record of what was
//! [`Created`] (paths, descriptors, ports, threads) to prove it is all gone afterwards, and the
//! check that every injected fault was reported exactly once.

use std::cell::{Cell, RefCell};
use std::io;
use std::net::TcpListener;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use exitstack::{report, ScopeError, UnwindError};

/// Held by every test of this binary: for writing by the one that checks the whole process,
/// for reading by the others.
static PROCESS: RwLock<()> = RwLock::new(());

/// For a test that checks the whole process (every open descriptor, every thread): no other
/// test of this binary runs meanwhile.
pub fn alone() -> RwLockWriteGuard<'static, ()> {
    PROCESS.write().unwrap_or_else(PoisonError::into_inner)
}

/// For a test that checks only what it made itself: it may run beside the others, never beside
/// a test that holds [`alone`].
pub fn beside_others() -> RwLockReadGuard<'static, ()> {
    PROCESS.read().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Fault {
    None,
    Fail(usize),
    Panic(usize),
}

/// Decides, step by step, whether to inject; remembers what it injected.
pub struct Injector {
    acquire: Fault,
    release: Fault,
    acquired: Cell<usize>,
    released: Cell<usize>,
    pub fired: RefCell<Vec<String>>,
}

impl Injector {
    /// Injects `acquire` into the acquisitions and `release` into the releases.
    pub fn new(acquire: Fault, release: Fault) -> Self {
        Injector {
            acquire,
            release,
            acquired: Cell::new(0),
            released: Cell::new(0),
            fired: RefCell::default(),
        }
    }

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
    pub fn acquire(&self) -> io::Result<()> {
        self.strike(self.acquire, &self.acquired, "acquire")
    }

    /// Called by each cleanup, after it released its resource.
    pub fn release(&self) -> io::Result<()> {
        self.strike(self.release, &self.released, "release")
    }
}

/// What the set-up created, to check afterwards that all of it is gone.
#[derive(Default)]
pub struct Created {
    pub paths: RefCell<Vec<PathBuf>>,
    /// Descriptor number and what `/proc/self/fd` said it was when opened.
    pub fds: RefCell<Vec<(i32, PathBuf)>>,
    pub ports: RefCell<Vec<u16>>,
    pub servers_running: Arc<Mutex<usize>>,
}

impl Created {
    pub fn fd(&self, fd: i32) {
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).expect("fd is open");
        self.fds.borrow_mut().push((fd, link));
    }

    pub fn assert_all_released(&self) {
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

/// The errors of an unwind's result, as text (empty when it succeeded).
pub fn errors(result: Result<(), UnwindError>) -> Vec<String> {
    result
        .err()
        .into_iter()
        .flatten()
        .map(|e| e.to_string())
        .collect()
}

/// The errors of a failed scope, as text: the body's error first, then each cleanup error.
pub fn scope_failure<E: std::fmt::Display>(error: ScopeError<E>) -> Vec<String> {
    let (body, _, cleanup) = error.into_parts();
    let cleanup = cleanup.into_iter().flatten().map(|e| e.to_string());
    body.map(|e| e.to_string())
        .into_iter()
        .chain(cleanup)
        .collect()
}

pub fn raw(fd: &impl std::os::fd::AsRawFd) -> i32 {
    fd.as_raw_fd()
}

pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (
        payload.downcast_ref::<String>(),
        payload.downcast_ref::<&str>(),
    ) {
        (Some(text), _) => text.clone(),
        (None, Some(text)) => (*text).to_owned(),
        (None, None) => "<non-string panic>".to_owned(),
    }
}

pub fn faults(steps: usize) -> Vec<Fault> {
    let each = (0..steps).flat_map(|step| [Fault::Fail(step), Fault::Panic(step)]);
    std::iter::once(Fault::None).chain(each).collect()
}

/// Hides the default panic message of injected panics only.
pub fn quiet_injected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !panic_text(info.payload()).starts_with("injected") {
            default(info);
        }
    }));
}

/// Everything a run produced, as text: returned errors and reports, and the panic that came out.
#[derive(Debug, Default)]
pub struct Produced {
    pub outputs: Vec<String>,
    pub panic: Option<String>,
}

/// Runs `body` (which returns the errors it got back, as text) catching its panic and every
/// report made meanwhile.
pub fn observe(body: impl FnOnce() -> Vec<String>) -> Produced {
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let result = report::with_reporter(
        move |report| sink.lock().unwrap().push(report.error().to_string()),
        || catch_unwind(AssertUnwindSafe(body)),
    );
    let mut produced = Produced::default();
    match result {
        Ok(outputs) => produced.outputs = outputs,
        Err(payload) => produced.panic = Some(panic_text(&*payload)),
    }
    produced.outputs.extend(reports.lock().unwrap().drain(..));
    produced
}

/// Asserts that each fault in `fired` (but those in `lost`) appears in exactly one output, and
/// that every output is about a fault that fired.
pub fn assert_reported_once(case: &str, produced: &Produced, fired: &[String], lost: &[String]) {
    let everything: Vec<&String> = produced.outputs.iter().chain(&produced.panic).collect();
    for fault in fired {
        let times = everything
            .iter()
            .filter(|text| text.contains(fault.as_str()))
            .count();
        let expected = usize::from(!lost.contains(fault));
        assert_eq!(times, expected, "{case}: {fault:?} in {produced:?}");
    }
    for text in &everything {
        let known = fired.iter().any(|fault| text.contains(fault.as_str()));
        assert!(known, "{case}: unexpected {text:?}");
    }
}

/// Under the leak check (`EXITSTACK_LEAK_CHECK` set, as `.ci/leaks.sh` does): whether to skip a
/// combination in which rustc itself leaks the `Err` that `?` is returning while a dropped
/// stack's cleanup panics (rust-lang/rust#47949: a panic in a destructor during a return leaks
/// the return value). Every other combination still runs under valgrind.
pub fn leaked_by_rustc(acquire: Fault, release: Fault) -> bool {
    let combination = matches!((acquire, release), (Fault::Fail(_), Fault::Panic(_)));
    combination && std::env::var_os("EXITSTACK_LEAK_CHECK").is_some()
}
