//! The demo program: fetch two release artifacts from a (loopback) HTTP server, verify their
//! checksums, keep what verifies, and clean up everything on every path.
//!
//! `cargo run -p exitstack-tests --example demo` prints what it does; `tests/demo.rs` runs the
//! same code and checks that nothing is left on disk, the port is free, and the release order
//! and errors are as printed. Failures are injected on purpose: the server publishes a wrong
//! checksum for `nightly.tar`, and its audit endpoint always answers 503.
//!
//! ```no_run
//! let run = exitstack_tests::demo::run(&mut std::io::stdout()).unwrap();
//! assert!(!run.work_dir.exists());
//! ```

mod server;

use std::error::Error;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use exitstack::{ExitStack, Flow, ScopeError, UnwindError};

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

/// Set-up (pattern P6): two temp dirs and the server thread, then a health check on
/// `health_path`. If any step fails, what was created so far is released at once (the `?`
/// drops the stack); otherwise the resources move to the caller, released at tear-down.
pub fn set_up(log: &Log, health_path: &str) -> Result<(ExitStack<'static>, Fixture), DemoError> {
    let mut stack = ExitStack::new();
    let work = tempfile::Builder::new()
        .prefix("exitstack-demo-work-")
        .tempdir()?;
    let work_dir = work.path().to_owned();
    log.push(format!("created work dir {}", work_dir.display()));
    stack
        .try_guard(work, remove_dir(log, "work dir"))
        .label("work dir");
    let cache = tempfile::Builder::new()
        .prefix("exitstack-demo-cache-")
        .tempdir()?;
    let cache_dir = cache.path().to_owned();
    log.push(format!("created cache dir {}", cache_dir.display()));
    stack
        .try_guard(cache, remove_dir(log, "cache dir"))
        .label("cache dir");
    let server = stack.enter_closing(Server::start(catalogue(), log.clone())?);
    let port = server.label("http server").port();
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

fn remove_dir(log: &Log, what: &'static str) -> impl FnOnce(tempfile::TempDir) -> io::Result<()> {
    let log = log.clone();
    move |dir| {
        log.push(format!("removed {what} {}", dir.path().display()));
        dir.close()
    }
}

/// The work: fetch and verify each artifact, writing a manifest of what was kept.
fn fetch_all(
    stack: &ExitStack<'_>,
    fixture: &Fixture,
    log: &Log,
    out: &mut dyn Write,
) -> Result<usize, DemoError> {
    let started = Instant::now();
    let timer_log = log.clone();
    stack.push_exit(move |exit| {
        timer_log.push(format!(
            "stopped timer after {:?} (failing: {})",
            started.elapsed(),
            exit.is_failure()
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
    let close_log = log.clone();
    let manifest = stack.guard(File::create(&manifest_path)?, move |file| {
        drop(file);
        close_log.push("closed manifest.txt");
    });
    let manifest = manifest.label("manifest file").into_mut();
    let (port, audit_log) = (fixture.port, log.clone());
    stack
        .try_callback(move || {
            audit_log.push("uploading audit log");
            post_audit(port, "run finished")
        })
        .label("upload audit log");
    let mut kept = 0;
    for artifact in ["release.tar", "nightly.tar"] {
        fetch_one(fixture, artifact, log, out)?;
        writeln!(manifest, "{artifact}")?;
        kept += 1;
    }
    Ok(kept)
}

/// Downloads one artifact and its checksum into the cache and verifies it (pattern P7).
fn fetch_one(
    fixture: &Fixture,
    name: &str,
    log: &Log,
    out: &mut dyn Write,
) -> Result<(), DemoError> {
    // If this fetch fails, tell the server; that call can fail too, and as this stack is then
    // dropped (by `?`) rather than closed, its error goes to the report channel.
    let mut session = ExitStack::new();
    let (port, session_log, what) = (fixture.port, log.clone(), name.to_owned());
    session
        .try_push_exit(move |exit| {
            if exit.is_dropped() {
                session_log.push(format!("reporting failed fetch of {what}"));
                post_audit(port, &format!("fetch of {what} failed"))?;
            }
            Ok::<_, DemoError>(Flow::Propagate)
        })
        .label("report failed fetch");
    let data_path = fixture.cache_dir.join(name);
    let sum_path = fixture.cache_dir.join(format!("{name}.sum"));
    let data = download(fixture.port, name, &data_path)?;
    let published = download(fixture.port, &format!("{name}.sum"), &sum_path)?;
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
        .try_callback(remove_file(log, data_path))
        .label(format!("remove {name}"));
    let remove_sum = removal
        .try_callback(remove_file(log, sum_path))
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

fn download(port: u16, name: &str, to: &Path) -> Result<Vec<u8>, DemoError> {
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

fn lines_of(result: &Result<(), ScopeError<DemoError>>) -> Vec<ErrorLine> {
    let Err(error) = result else {
        return Vec::new();
    };
    let body = error.body_error().map(|error| ErrorLine {
        label: None,
        message: error.to_string(),
        site: None,
    });
    let cleanup = error
        .cleanup_errors()
        .into_iter()
        .flatten()
        .map(|e| ErrorLine {
            label: e.label().map(str::to_owned),
            message: e.error().to_string(),
            site: e.location().map(ToString::to_string),
        });
    body.into_iter().chain(cleanup).collect()
}

/// Runs the whole demo, printing to `out`: set-up, the fetches (one fails on purpose),
/// tear-down, then what was released in which order and every error with its label and site.
pub fn run(out: &mut dyn Write) -> Result<DemoRun, DemoError> {
    let log = Log::new();
    let (result, reported) = capture_reports(|| -> Result<_, DemoError> {
        let (mut resources, fixture) = set_up(&log, "/health")?;
        writeln!(out, "set-up:")?;
        for line in log.take() {
            writeln!(out, "  {line}")?;
        }
        writeln!(out, "work:")?;
        let scope = ExitStack::scope(|stack| fetch_all(stack, &fixture, &log, out));
        let scope = scope.map(|_| ());
        let teardown = resources.close();
        Ok((fixture, scope, teardown))
    });
    let (fixture, scope, teardown) = result?;
    let released = log.take();
    let returned = lines_of(&scope);
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
    writeln!(out, "sent to the report channel:")?;
    for report in &reported {
        let (file, line) = report.site.clone().unwrap_or_default();
        let label = report.label.as_deref().unwrap_or("unlabelled");
        writeln!(
            out,
            "  {}: cleanup `{label}` (registered at {file}:{line}): {}",
            report.reason, report.message
        )?;
    }
    match teardown {
        Ok(()) => writeln!(out, "tear-down: clean")?,
        Err(errors) => writeln!(out, "tear-down failed: {errors:#}")?,
    }
    Ok(DemoRun {
        work_dir: fixture.work_dir,
        cache_dir: fixture.cache_dir,
        port: fixture.port,
        released,
        returned,
        reported,
    })
}
