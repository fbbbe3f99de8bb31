//! The demo program: fetch two release artifacts from a (loopback) HTTP server, verify their
//! checksums, keep what verifies, and clean up everything on every path.
//!
//! `cargo run -p exitstack-tests --example demo` prints what it does; `tests/patterns/demo.rs`
//! runs the same code and checks that nothing is left on disk, the port is free, and the release
//! order and errors are as printed. Failures are injected on purpose: the server publishes a
//! wrong checksum for `nightly.tar`, and its audit endpoint always answers 503. A [`Probe`] lets
//! `tests/faults/demo.rs` inject more: fail or panic any acquisition or release step.
//!
//! ```no_run
//! let run = exitstack_tests::demo::run(&mut std::io::stdout()).unwrap();
//! assert!(!run.work_dir.exists());
//! ```

mod server;

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use exitstack::{Ending, ExitStack, Flow, ScopeError, UnwindError};

use crate::{capture_reports, Captured, Log};
pub use server::{checksum, request, Artifact, Server};

/// Everything the demo did, for the printout and for the test.
#[derive(Debug)]
pub struct DemoRun {
    /// The work directory (removed at tear-down).
    pub work_dir: PathBuf,
    /// The download cache directory (removed at tear-down).
    pub cache_dir: PathBuf,
    /// The port the HTTP server listened on (free again at the end).
    pub port: u16,
    /// What was released, in the order it happened.
    pub released: Vec<String>,
    /// The scope's result, as text: the body's error and the cleanup errors it returned.
    pub returned: Vec<ErrorLine>,
    /// What went to the report channel (errors that no caller could receive).
    pub reported: Vec<Captured>,
    /// The tear-down's errors (releasing what set-up made), empty if it was clean.
    pub teardown: Vec<ErrorLine>,
}

/// A step hook of a [`Probe`]: gets the step's name, may fail (or panic) to inject a fault.
pub type Hook = Rc<dyn Fn(&str) -> io::Result<()>>;

/// The fault-injection seam of the demo (used by `tests/faults/demo.rs`); the default does
/// nothing, so [`run`] behaves exactly as [`run_with`] given `Probe::default()`.
///
/// Acquisition steps: `work dir`, `cache dir`, `http server`, `health check`, `manifest file`,
/// `download <name>` (each artifact and each `.sum`). Release steps: `manifest file`,
/// `http server`, `cache dir`, `work dir`; the hook runs after the resource was released and
/// its error is that cleanup's error.
///
/// ```
/// use std::rc::Rc;
/// use exitstack_tests::demo::{run_with, Probe};
///
/// let root = tempfile::tempdir().unwrap();
/// let probe = Probe {
///     acquire: Some(Rc::new(|step: &str| match step {
///         "health check" => Err(std::io::Error::other("injected")),
///         _ => Ok(()),
///     })),
///     temp_root: Some(root.path().to_owned()),
///     ..Probe::default()
/// };
/// let error = run_with(&mut std::io::sink(), &probe).unwrap_err();
/// assert_eq!(error.to_string(), "i/o error: injected");
/// let record = probe.record.borrow();
/// assert_eq!(record.dirs.len(), 2);
/// assert!(record.port.is_some());
/// assert!(std::fs::read_dir(root.path()).unwrap().next().is_none()); // all removed
/// ```
#[derive(Clone, Default)]
pub struct Probe {
    /// Called before each acquisition step.
    pub acquire: Option<Hook>,
    /// Called after each release step.
    pub release: Option<Hook>,
    /// Where to create the temp dirs (the system's temp dir if `None`).
    pub temp_root: Option<PathBuf>,
    /// What the run created and reported, filled in as it goes (so also when it fails).
    pub record: Rc<RefCell<Record>>,
}

impl Probe {
    fn before(&self, step: &str) -> io::Result<()> {
        self.acquire.as_ref().map_or(Ok(()), |hook| hook(step))
    }

    fn released(&self, step: &str) -> io::Result<()> {
        self.release.as_ref().map_or(Ok(()), |hook| hook(step))
    }

    fn temp_dir(&self, prefix: &str) -> io::Result<tempfile::TempDir> {
        let mut builder = tempfile::Builder::new();
        builder.prefix(prefix);
        let dir = match &self.temp_root {
            Some(root) => builder.tempdir_in(root)?,
            None => builder.tempdir()?,
        };
        self.record.borrow_mut().dirs.push(dir.path().to_owned());
        Ok(dir)
    }
}

/// What one run of [`run_with`] created and reported, whatever its outcome.
#[derive(Debug, Default)]
pub struct Record {
    /// The temp dirs, as created.
    pub dirs: Vec<PathBuf>,
    /// The server's port, once it listens.
    pub port: Option<u16>,
    /// Every report the run made, also those of a run that failed or panicked.
    pub reported: Vec<Captured>,
}

/// One error the scope returned, with the label and site of the cleanup that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLine {
    /// The cleanup's label (`None` for the body's own error).
    pub label: Option<String>,
    /// The error message.
    pub message: String,
    /// Where the cleanup was registered, `file:line`.
    pub site: Option<String>,
}

/// Why the demo's work failed.
#[derive(Debug)]
pub enum DemoError {
    /// A file or socket operation failed.
    Io(io::Error),
    /// The server answered with an unexpected status.
    Http {
        /// The request path.
        path: String,
        /// The status code.
        status: u16,
    },
    /// A downloaded file does not match its published checksum.
    Checksum {
        /// The artifact.
        name: String,
        /// The published checksum.
        expected: String,
        /// The checksum of the downloaded bytes.
        actual: String,
    },
    /// Removing the files of a failed verification failed too.
    Cleanup(UnwindError),
}

impl fmt::Display for DemoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DemoError::Io(error) => write!(f, "i/o error: {error}"),
            DemoError::Http { path, status } => write!(f, "{path}: HTTP {status}"),
            DemoError::Checksum {
                name,
                expected,
                actual,
            } => write!(
                f,
                "checksum mismatch for {name}: published {expected}, downloaded {actual}"
            ),
            DemoError::Cleanup(errors) => write!(f, "{errors}"),
        }
    }
}

impl Error for DemoError {}

impl From<io::Error> for DemoError {
    fn from(error: io::Error) -> Self {
        DemoError::Io(error)
    }
}

/// Where set-up put things.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The work directory.
    pub work_dir: PathBuf,
    /// The download cache.
    pub cache_dir: PathBuf,
    /// The server's port.
    pub port: u16,
}

/// What the server offers: `release.tar` verifies, `nightly.tar` was tampered with.
pub fn catalogue() -> Vec<Artifact> {
    let release = b"release 1.0: the good bytes\n".to_vec();
    let nightly = b"nightly: bytes changed after signing\n".to_vec();
    vec![
        Artifact {
            name: "release.tar",
            checksum: checksum(&release),
            data: release,
        },
        Artifact {
            name: "nightly.tar",
            checksum: checksum(b"nightly: the bytes that were signed\n"),
            data: nightly,
        },
    ]
}

/// Set-up (all or nothing, as a fixture): two temp dirs and the server thread, then a health check on
/// `health_path`. If any step fails, what was created so far is released at once (the `?`
/// drops the stack); otherwise the resources move to the caller, released at tear-down.
pub fn set_up(log: &Log, health_path: &str) -> Result<(ExitStack<'static>, Fixture), DemoError> {
    set_up_with(log, health_path, &Probe::default())
}

/// [`set_up`] with a [`Probe`].
fn set_up_with(
    log: &Log,
    health_path: &str,
    probe: &Probe,
) -> Result<(ExitStack<'static>, Fixture), DemoError> {
    let mut stack = ExitStack::new();
    probe.before("work dir")?;
    let work = probe.temp_dir("exitstack-demo-work-")?;
    let work_dir = work.path().to_owned();
    log.push(format!("created work dir {}", work_dir.display()));
    stack
        .guard(work, remove_dir(log, "work dir", probe))
        .label("work dir");
    probe.before("cache dir")?;
    let cache = probe.temp_dir("exitstack-demo-cache-")?;
    let cache_dir = cache.path().to_owned();
    log.push(format!("created cache dir {}", cache_dir.display()));
    stack
        .guard(cache, remove_dir(log, "cache dir", probe))
        .label("cache dir");
    probe.before("http server")?;
    let server = Server::start(catalogue(), log.clone())?;
    let port = server.port();
    probe.record.borrow_mut().port = Some(port);
    let release = probe.clone();
    stack
        .guard(server, move |server| {
            // Qualified: with `Close` imported, `stack.close()` would resolve to it.
            exitstack::Close::close(server)?;
            release.released("http server")
        })
        .label("http server");
    probe.before("health check")?;
    let (status, _) = request(port, "GET", health_path, b"")?;
    log.push(format!(
        "started http server on port {port} (health check: {status})"
    ));
    if status != 200 {
        return Err(DemoError::Http {
            path: health_path.to_owned(),
            status,
        });
    }
    let fixture = Fixture {
        work_dir,
        cache_dir,
        port,
    };
    Ok((stack.pop_all(), fixture))
}

fn remove_dir(
    log: &Log,
    what: &'static str,
    probe: &Probe,
) -> impl FnOnce(tempfile::TempDir) -> io::Result<()> {
    let (log, probe) = (log.clone(), probe.clone());
    move |dir| {
        log.push(format!("removed {what} {}", dir.path().display()));
        dir.close()?;
        probe.released(what)
    }
}

/// The work: fetch and verify each artifact, writing a manifest of what was kept.
fn fetch_all(
    stack: &ExitStack<'_>,
    fixture: &Fixture,
    log: &Log,
    out: &mut dyn Write,
    probe: &Probe,
) -> Result<usize, DemoError> {
    let started = Instant::now();
    let timer_log = log.clone();
    stack.push_exit(move |exit| {
        timer_log.push(format!(
            "stopped timer after {:?} (failing: {})",
            started.elapsed(),
            !exit.ending().is_success()
        ));
        Flow::Propagate
    });
    let manifest_path = fixture.work_dir.join("manifest.txt");
    let discard_log = log.clone();
    let discard_path = manifest_path.clone();
    stack
        .callback_on_error(move || {
            let _ = fs::remove_file(&discard_path);
            discard_log.push("removed manifest.txt (the run failed)");
        })
        .label("discard manifest");
    let (close_log, release) = (log.clone(), probe.clone());
    probe.before("manifest file")?;
    let manifest = stack.guard(File::create(&manifest_path)?, move |file| {
        drop(file);
        close_log.push("closed manifest.txt");
        release.released("manifest file")
    });
    let manifest = manifest.label("manifest file").into_mut();
    let (port, audit_log) = (fixture.port, log.clone());
    stack
        .callback(move || {
            audit_log.push("uploading audit log");
            post_audit(port, "run finished")
        })
        .label("upload audit log");
    let mut kept = 0;
    for artifact in ["release.tar", "nightly.tar"] {
        fetch_one(fixture, artifact, log, out, probe)?;
        writeln!(manifest, "{artifact}")?;
        kept += 1;
    }
    Ok(kept)
}

/// Downloads one artifact and its checksum into the cache and verifies it (a check after the cleanups are registered).
fn fetch_one(
    fixture: &Fixture,
    name: &str,
    log: &Log,
    out: &mut dyn Write,
    probe: &Probe,
) -> Result<(), DemoError> {
    // If this fetch fails, tell the server; that call can fail too, and as this stack is then
    // dropped (by `?`) rather than closed, its error goes to the report channel.
    let mut session = ExitStack::new();
    let (port, session_log, what) = (fixture.port, log.clone(), name.to_owned());
    session
        .push_exit(move |exit| {
            if matches!(exit.ending(), Ending::Abandoned | Ending::Panicked) {
                session_log.push(format!("reporting failed fetch of {what}"));
                post_audit(port, &format!("fetch of {what} failed"))?;
            }
            Ok::<_, DemoError>(Flow::Propagate)
        })
        .label("report failed fetch");
    let data_path = fixture.cache_dir.join(name);
    let sum_path = fixture.cache_dir.join(format!("{name}.sum"));
    let data = download(fixture.port, name, &data_path, probe)?;
    let published = download(fixture.port, &format!("{name}.sum"), &sum_path, probe)?;
    write!(out, "  fetched {name} ({} bytes): ", data.len())?;
    match verify(name, &data, &published, &data_path, &sum_path, log) {
        Ok(()) => writeln!(out, "checksum {} verified, kept", checksum(&data))?,
        Err(error) => {
            writeln!(out, "{error}; its files were removed")?;
            return Err(error);
        }
    }
    session.close().map_err(DemoError::Cleanup)
}

/// Arranges removal of the data and checksum files; cancels it when the checksum matches,
/// runs it (then fails) when it does not.
fn verify(
    name: &str,
    data: &[u8],
    published: &[u8],
    data_path: &Path,
    sum_path: &Path,
    log: &Log,
) -> Result<(), DemoError> {
    let mut removal = ExitStack::new();
    let remove_data = removal
        .callback(remove_file(log, data_path))
        .label(format!("remove {name}"));
    let remove_sum = removal
        .callback(remove_file(log, sum_path))
        .label(format!("remove {name}.sum"));
    let expected = String::from_utf8_lossy(published).trim().to_owned();
    let actual = checksum(data);
    if expected == actual {
        remove_sum.cancel();
        remove_data.cancel();
        return Ok(());
    }
    removal.close().map_err(DemoError::Cleanup)?;
    Err(DemoError::Checksum {
        name: name.to_owned(),
        expected,
        actual,
    })
}

fn remove_file(log: &Log, path: &Path) -> impl FnOnce() -> io::Result<()> + 'static {
    let (log, path) = (log.clone(), path.to_owned());
    move || {
        fs::remove_file(&path)?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        log.push(format!("removed {name}"));
        Ok(())
    }
}

fn download(port: u16, name: &str, to: &Path, probe: &Probe) -> Result<Vec<u8>, DemoError> {
    probe.before(&format!("download {name}"))?;
    let path = format!("/files/{name}");
    let (status, body) = request(port, "GET", &path, b"")?;
    if status != 200 {
        return Err(DemoError::Http { path, status });
    }
    fs::write(to, &body)?;
    Ok(body)
}

fn post_audit(port: u16, message: &str) -> Result<(), DemoError> {
    let (status, _) = request(port, "POST", "/audit", message.as_bytes())?;
    match status {
        200 => Ok(()),
        status => Err(DemoError::Http {
            path: "/audit".to_owned(),
            status,
        }),
    }
}

fn lines_of(result: Option<&ScopeError<DemoError>>) -> Vec<ErrorLine> {
    let Some(error) = result else {
        return Vec::new();
    };
    let body = error.body_error().map(|error| ErrorLine {
        label: None,
        message: error.to_string(),
        site: None,
    });
    let cleanup = unwind_lines(error.cleanup_errors());
    body.into_iter().chain(cleanup).collect()
}

/// The errors of an unwind, as lines.
fn unwind_lines(errors: Option<&UnwindError>) -> Vec<ErrorLine> {
    let errors = errors.into_iter().flatten();
    errors
        .map(|e| ErrorLine {
            label: e.label().map(str::to_owned),
            message: e.error().to_string(),
            site: e.location().map(ToString::to_string),
        })
        .collect()
}

/// Runs the whole demo, printing to `out`: set-up, the fetches (one fails on purpose),
/// tear-down, then what was released in which order and every error with its label and site.
pub fn run(out: &mut dyn Write) -> Result<DemoRun, DemoError> {
    run_with(out, &Probe::default())
}

/// [`run`] with a [`Probe`] injecting faults and recording what was created and reported.
///
/// See [`Probe`] for an example.
pub fn run_with(out: &mut dyn Write, probe: &Probe) -> Result<DemoRun, DemoError> {
    let log = Log::new();
    let (result, reported) = capture_reports(|| {
        catch_unwind(AssertUnwindSafe(|| -> Result<_, DemoError> {
            let (resources, fixture) = set_up_with(&log, "/health", probe)?;
            writeln!(out, "set-up:")?;
            for line in log.take() {
                writeln!(out, "  {line}")?;
            }
            writeln!(out, "work:")?;
            // The tear-down runs as the cleanup of an outer scope, not with a plain `close`
            // after the work: if the tear-down panics, the work's error must not be dropped
            // with the unwinding, and the scope reports it.
            let outcome = ExitStack::scope(|teardown| {
                teardown.push_stack(resources);
                let scope = ExitStack::scope(|stack| fetch_all(stack, &fixture, &log, out, probe));
                scope.map(|_| ()).map_err(Box::new)
            });
            Ok((fixture, outcome))
        }))
    });
    // Kept for the caller before anything can return or resume: nothing reported is lost.
    probe.record.borrow_mut().reported.extend(reported.clone());
    let (fixture, outcome) = match result {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => {
            print_reports(out, &reported)?;
            return Err(error);
        }
        Err(panic) => resume_unwind(panic),
    };
    let (scope, teardown) = match outcome {
        Ok(()) => (None, None),
        Err(error) => {
            let suppressed_only = error.is_suppressed();
            let (body, suppressed, cleanup) = error.into_parts();
            if suppressed_only {
                (suppressed, None)
            } else {
                (body, cleanup)
            }
        }
    };
    let released = log.take();
    let returned = lines_of(scope.as_deref());
    writeln!(out, "released, in order:")?;
    for (index, event) in released.iter().enumerate() {
        writeln!(out, "  {:>2}. {event}", index + 1)?;
    }
    writeln!(out, "returned by the scope:")?;
    for line in &returned {
        match (&line.label, &line.site) {
            (Some(label), Some(site)) => writeln!(
                out,
                "  cleanup `{label}` (registered at {site}): {}",
                line.message
            )?,
            _ => writeln!(out, "  body: {}", line.message)?,
        }
    }
    print_reports(out, &reported)?;
    match &teardown {
        None => writeln!(out, "tear-down: clean")?,
        Some(errors) => writeln!(out, "tear-down failed: {errors:#}")?,
    }
    Ok(DemoRun {
        work_dir: fixture.work_dir,
        cache_dir: fixture.cache_dir,
        port: fixture.port,
        released,
        returned,
        reported,
        teardown: unwind_lines(teardown.as_ref()),
    })
}

fn print_reports(out: &mut dyn Write, reported: &[Captured]) -> io::Result<()> {
    writeln!(out, "sent to the report channel:")?;
    for report in reported {
        let (file, line) = report.site.clone().unwrap_or_default();
        let label = report.label.as_deref().unwrap_or("unlabelled");
        writeln!(
            out,
            "  {}: cleanup `{label}` (registered at {file}:{line}): {}",
            report.reason, report.message
        )?;
    }
    Ok(())
}
