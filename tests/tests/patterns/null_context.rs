//! Pattern "null context": code always has the same shape; an empty stack stands in where
//! there is nothing to clean up.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use exitstack::ExitStack;

/// Counts lines of a file, or of an in-memory default when no path is given. One shape for
/// both: the stack holds the opened file, or nothing.
fn count_lines(path: Option<&Path>) -> Result<usize, exitstack::ScopeError<io::Error>> {
    ExitStack::scope(|stack| {
        let source: Box<dyn Read> = match path {
            Some(path) => Box::new(&mut *stack.enter(File::open(path)?).into_mut()),
            None => Box::new(&b"built-in\ndefault\n"[..]),
        };
        Ok(BufReader::new(source).lines().count())
    })
}

#[test]
fn with_a_resource_the_stack_releases_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input.txt");
    fs::write(&path, "one\ntwo\nthree\n").unwrap();
    assert_eq!(count_lines(Some(&path)).unwrap(), 3);
}

#[test]
fn without_a_resource_the_empty_stack_is_the_null_context() {
    assert_eq!(count_lines(None).unwrap(), 2);
}

#[test]
fn an_empty_stack_closes_drops_and_pops_as_a_no_op() {
    let mut stack = ExitStack::new();
    assert!(stack.is_empty());
    assert!(stack.close().is_ok());
    let mut moved = stack.pop_all();
    assert!(moved.is_empty() && stack.is_empty());
    assert!(moved.close().is_ok());
    drop(moved);
    let outcome = ExitStack::scope(|_| Ok::<_, io::Error>("nothing to clean up")).unwrap();
    assert_eq!(outcome, "nothing to clean up");
}

#[test]
fn the_same_shape_reports_a_failed_open() {
    let dir = tempfile::tempdir().unwrap();
    let error = count_lines(Some(&dir.path().join("missing"))).unwrap_err();
    assert_eq!(error.body_error().unwrap().kind(), io::ErrorKind::NotFound);
}
