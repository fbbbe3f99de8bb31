//! Pattern "cancel a registered cleanup": register the cleanup up front (instead of
//! try/finally plus a flag), and cancel it once the operation succeeded. Real files: a report
//! written in place, whose partial output must not survive a failure.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use exitstack::ExitStack;
use exitstack_tests::Log;

/// Writes one line per row; a row `"!"` fails part-way, after some output was written.
fn write_report(path: &Path, rows: &[&str], log: &Log) -> io::Result<()> {
    let stack = ExitStack::new();
    let mut file = stack.enter(File::create(path)?);
    let (l, partial) = (log.clone(), path.to_owned());
    let remove_partial = stack
        .callback(move || {
            let _ = fs::remove_file(&partial);
            l.push("removed partial report");
        })
        .label("remove partial report");
    for row in rows {
        if *row == "!" {
            return Err(io::Error::other("row could not be rendered"));
        }
        writeln!(file, "{row}")?;
    }
    file.sync_all()?;
    remove_partial.cancel(); // success: keep the output
    log.push("report complete");
    Ok(())
}

#[test]
fn on_success_the_cleanup_is_cancelled_and_the_output_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.txt");
    let log = Log::new();
    write_report(&path, &["a", "b"], &log).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "a\nb\n");
    assert_eq!(log.entries(), ["report complete"]);
}

#[test]
fn on_failure_the_registered_cleanup_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.txt");
    let log = Log::new();
    let error = write_report(&path, &["a", "!", "c"], &log).unwrap_err();
    assert_eq!(error.to_string(), "row could not be rendered");
    assert!(!path.exists(), "the partial report was removed");
    assert_eq!(log.entries(), ["removed partial report"]);
}

#[test]
fn cancel_takes_back_a_value_without_releasing_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scratch");
    fs::write(&path, b"x").unwrap();
    let mut stack = ExitStack::new();
    let scratch = stack.guard(path.clone(), |path| {
        let _ = fs::remove_file(path);
    });
    let kept = scratch.cancel();
    stack.close().unwrap();
    assert!(kept.exists());
}
