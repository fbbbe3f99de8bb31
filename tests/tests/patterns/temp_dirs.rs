//! Pattern "temporary directories": create a run-time number of temporary directories, each
//! removed at the end, even if creating a later one failed.

use std::io;
use std::path::{Path, PathBuf};

use exitstack::ExitStack;
use tempfile::TempDir;

/// Creates `count` directories under `parent`; the one at `fail_at` is created under a parent
/// that does not exist, so it fails. Returns the paths and the stack that removes them.
fn make_dirs(
    parent: &Path,
    count: usize,
    fail_at: Option<usize>,
    made: &mut Vec<PathBuf>,
) -> io::Result<ExitStack<'static>> {
    let mut stack = ExitStack::new();
    for index in 0..count {
        let base = if Some(index) == fail_at {
            parent.join("does-not-exist")
        } else {
            parent.to_owned()
        };
        let dir = tempfile::Builder::new()
            .prefix(&format!("work-{index}-"))
            .tempdir_in(base)?;
        made.push(dir.path().to_owned());
        // `TempDir::close` reports a failed removal instead of ignoring it as `Drop` does.
        stack
            .guard(dir, TempDir::close)
            .label(format!("temp dir {index}"));
    }
    Ok(stack.pop_all())
}

#[test]
fn every_directory_is_removed_at_the_end() {
    let parent = tempfile::tempdir().unwrap();
    let mut made = Vec::new();
    let count = 3 + made.len(); // a run-time number
    let mut dirs = make_dirs(parent.path(), count, None, &mut made).unwrap();
    assert_eq!(made.len(), count);
    assert!(made.iter().all(|dir| dir.is_dir()));
    std::fs::write(made[1].join("file"), b"contents are removed too").unwrap();
    dirs.close().unwrap();
    assert!(made.iter().all(|dir| !dir.exists()));
}

#[test]
fn a_failure_part_way_removes_the_directories_made_so_far() {
    let parent = tempfile::tempdir().unwrap();
    let mut made = Vec::new();
    let error = make_dirs(parent.path(), 5, Some(3), &mut made)
        .err()
        .unwrap();
    assert_eq!(error.kind(), io::ErrorKind::NotFound);
    assert_eq!(made.len(), 3);
    assert!(made.iter().all(|dir| !dir.exists()), "{made:?}");
    assert_eq!(std::fs::read_dir(parent.path()).unwrap().count(), 0);
}

#[test]
fn a_directory_that_cannot_be_removed_is_an_error_not_silence() {
    let parent = tempfile::tempdir().unwrap();
    let mut made = Vec::new();
    let mut dirs = make_dirs(parent.path(), 2, None, &mut made).unwrap();
    // Someone else removed it first: the removal fails, and the other is still removed.
    std::fs::remove_dir(&made[1]).unwrap();
    let errors = dirs.close().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("temp dir 1"));
    assert!(!made[0].exists());
}
