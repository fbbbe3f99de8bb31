//! Pattern "decorator form": `#[with_stack(context = ..)]` wraps whole functions so that
//! entry and exit are logged to a real file, without editing their bodies; the exit line sees
//! the function's real outcome (its returned `Err`, or a panic).

use std::cell::RefCell;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use exitstack::{defer, with_stack, Context, Exit, Flow, UnwindError};

thread_local! {
    static LOG_PATH: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Appends `enter name` on entry and `exit name: outcome` on exit to the thread's log file.
struct Logged(&'static str);

fn append(line: &str) -> io::Result<()> {
    let path = LOG_PATH
        .with(|path| path.borrow().clone())
        .expect("log file set");
    let mut file = OpenOptions::new().append(true).open(path)?;
    writeln!(file, "{line}")
}

impl Context for Logged {
    type Target = (&'static str, File);
    type Error = io::Error;
    fn enter(self) -> io::Result<Self::Target> {
        append(&format!("enter {}", self.0))?;
        let path = LOG_PATH
            .with(|path| path.borrow().clone())
            .expect("log file set");
        Ok((self.0, OpenOptions::new().append(true).open(path)?))
    }
    fn exit((name, mut file): Self::Target, exit: &Exit<'_>) -> io::Result<Flow> {
        let outcome = match (exit.is_panicking(), exit.error()) {
            (true, _) => "panicked".to_owned(),
            (false, Some(error)) => format!("failed: {error}"),
            (false, None) => "ok".to_owned(),
        };
        writeln!(file, "exit {name}: {outcome}")?;
        Ok(Flow::Propagate)
    }
}

#[derive(Debug)]
struct Error(String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for Error {}
impl From<UnwindError> for Error {
    fn from(errors: UnwindError) -> Self {
        Error(errors.to_string())
    }
}

#[with_stack(context = Logged("parse"))]
fn parse(text: &str) -> Result<u32, Error> {
    text.trim().parse().map_err(|e| Error(format!("{e}")))
}

#[with_stack(context = Logged("shout"))]
fn shout(text: &str) -> String {
    text.to_uppercase()
}

/// Both: the context logs, and the body registers its own cleanup on the same stack.
#[with_stack(stack, context = Logged("copy"))]
fn copy(from: &Path, to: &Path) -> Result<u64, Error> {
    let partial = to.to_owned();
    defer!(stack => on_error move { let _ = std::fs::remove_file(&partial); });
    std::fs::copy(from, to).map_err(|e| Error(e.to_string()))
}

fn log_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn entry_and_exit_are_logged_with_the_real_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("calls.log");
    File::create(&log).unwrap();
    LOG_PATH.with(|path| *path.borrow_mut() = Some(log.clone()));

    assert_eq!(parse(" 42 ").unwrap(), 42);
    assert!(parse("forty-two").is_err());
    assert_eq!(shout("hi"), "HI");
    let source = dir.path().join("source.txt");
    std::fs::write(&source, b"data").unwrap();
    assert_eq!(copy(&source, &dir.path().join("copy.txt")).unwrap(), 4);
    let missing = dir.path().join("missing.txt");
    let target = dir.path().join("never.txt");
    assert!(copy(&missing, &target).is_err());
    assert!(!target.exists());

    assert_eq!(
        log_lines(&log),
        [
            "enter parse",
            "exit parse: ok",
            "enter parse",
            "exit parse: failed: invalid digit found in string",
            "enter shout",
            "exit shout: ok",
            "enter copy",
            "exit copy: ok",
            "enter copy",
            "exit copy: failed: No such file or directory (os error 2)",
        ]
    );
}

#[test]
fn a_context_that_fails_to_enter_becomes_the_error() {
    LOG_PATH.with(|path| *path.borrow_mut() = Some(PathBuf::from("/nonexistent/exitstack/log")));
    let error = parse("1").unwrap_err();
    assert!(error.0.contains("No such file"), "{error}");
}
