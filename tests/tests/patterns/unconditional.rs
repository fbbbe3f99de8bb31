//! Pattern "unconditional cleanup": close the main file and remove the temp files on every
//! path; best-effort removals never hide the real error.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use exitstack::ExitStack;
use exitstack_tests::Log;

/// Converts `input` into `output` through two temp files. `fail` makes the conversion fail
/// after the temp files exist; `sabotage` removes one temp file early, so its removal fails.
fn convert(
    dir: &Path,
    fail: bool,
    sabotage: bool,
    log: &Log,
) -> Result<(), exitstack::ScopeError<io::Error>> {
    ExitStack::scope(|stack| {
        let l = log.clone();
        let output = stack.guard(File::create(dir.join("output"))?, move |file| {
            drop(file);
            l.push("closed output");
        });
        let output = output.into_mut();
        let temps: Vec<PathBuf> = ["stage1.tmp", "stage2.tmp"].map(|n| dir.join(n)).into();
        for temp in &temps {
            fs::write(temp, b"intermediate")?;
            let (l, temp) = (log.clone(), temp.clone());
            // Best effort, but not silent: a failed removal joins the cleanup errors, and
            // the body's own error stays the body error.
            stack.callback(move || {
                l.push(format!(
                    "removing {}",
                    temp.file_name().unwrap().to_string_lossy()
                ));
                fs::remove_file(&temp)
            });
        }
        if sabotage {
            fs::remove_file(&temps[0])?;
        }
        if fail {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "conversion failed",
            ));
        }
        output.write_all(b"converted")?;
        Ok(())
    })
}

fn left_over(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const CLEANUP: [&str; 3] = [
    "removing stage2.tmp",
    "removing stage1.tmp",
    "closed output",
];

#[test]
fn on_success_temp_files_go_and_the_output_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    convert(dir.path(), false, false, &log).unwrap();
    assert_eq!(log.entries(), CLEANUP);
    assert_eq!(left_over(dir.path()), ["output"]);
    assert_eq!(fs::read(dir.path().join("output")).unwrap(), b"converted");
}

#[test]
fn on_failure_the_same_cleanup_runs_and_the_real_error_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let error = convert(dir.path(), true, false, &log).unwrap_err();
    assert_eq!(
        error.body_error().unwrap().kind(),
        io::ErrorKind::InvalidData
    );
    assert!(error.cleanup_errors().is_none());
    assert_eq!(log.entries(), CLEANUP);
    assert_eq!(left_over(dir.path()), ["output"]);
}

#[test]
fn a_failed_removal_does_not_hide_the_real_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let error = convert(dir.path(), true, true, &log).unwrap_err();
    // The conversion's error is still the error; the removal's is kept beside it.
    assert_eq!(error.body_error().unwrap().to_string(), "conversion failed");
    let cleanup = error.cleanup_errors().unwrap();
    assert_eq!(cleanup.len(), 1);
    let removal = cleanup.first().error().downcast_ref::<io::Error>().unwrap();
    assert_eq!(removal.kind(), io::ErrorKind::NotFound);
    assert_eq!(
        log.entries(),
        CLEANUP,
        "the failed removal did not stop the rest"
    );
    assert_eq!(left_over(dir.path()), ["output"]);
}
