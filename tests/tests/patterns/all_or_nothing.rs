//! Pattern "all-or-nothing": open N files; if opening any of them fails, close those already
//! opened; if all opened, move them out of the scope and close them later in one call.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use exitstack::ExitStack;
use exitstack_tests::Log;

/// A file whose release syncs it to disk (which can fail) and logs. (`Close` is named, not
/// imported: in scope, its by-value `close` would be picked for `files.close()` below.)
struct Output {
    file: File,
    name: String,
    log: Log,
}

impl exitstack::Close for Output {
    type Error = io::Error;
    fn close(self) -> io::Result<()> {
        self.file.sync_all()?;
        self.log.push(format!("closed {}", self.name));
        Ok(())
    }
}

/// Creates every file and writes its header; all of them, or none stays open.
fn open_all(dir: &Path, names: &[&str], log: &Log) -> io::Result<ExitStack<'static>> {
    let mut stack = ExitStack::new();
    for name in names {
        let file = File::create(dir.join(name))?;
        let mut output = stack.enter_closing(Output {
            file,
            name: (*name).to_owned(),
            log: log.clone(),
        });
        writeln!(output.file, "header of {name}")?;
    }
    Ok(stack.pop_all())
}

#[test]
fn when_every_file_opens_they_move_out_and_close_later_in_one_call() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let mut files = open_all(dir.path(), &["a.log", "b.log", "c.log"], &log).unwrap();
    assert!(
        log.entries().is_empty(),
        "still open after the scope that opened them"
    );
    files.close().unwrap();
    assert_eq!(
        log.entries(),
        ["closed c.log", "closed b.log", "closed a.log"]
    );
    for name in ["a", "b", "c"] {
        let text = fs::read_to_string(dir.path().join(format!("{name}.log"))).unwrap();
        assert_eq!(text, format!("header of {name}.log\n"));
    }
}

#[test]
fn when_one_file_fails_to_open_those_already_open_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let names = ["a.log", "b.log", "missing-dir/c.log", "d.log"];
    let error = open_all(dir.path(), &names, &log).err().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert_eq!(log.entries(), ["closed b.log", "closed a.log"]);
    assert!(
        !dir.path().join("d.log").exists(),
        "nothing after the failure was opened"
    );
}

#[test]
fn closing_later_returns_every_close_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let mut files = open_all(dir.path(), &["a.log"], &log).unwrap();
    let failing = ExitStack::new();
    failing.callback(|| Err(io::Error::other("sync failed")));
    failing.callback(|| Err(io::Error::other("second failure")));
    files.push_stack(failing);
    let errors = files.close().unwrap_err();
    assert_eq!(errors.len(), 2);
    assert_eq!(
        log.entries(),
        ["closed a.log"],
        "a failure does not stop the rest"
    );
}
