//! Pattern "selective suppression": a writer suppresses only a broken-pipe error on shutdown
//! and lets every other error through. Real OS pipes (`std::io::pipe`) whose reader is gone give
//! a real `BrokenPipe` (Rust ignores SIGPIPE); a read-only file gives a different error.

use std::fs::File;
use std::io::{self, Read, Write};

use exitstack::{Exit, ExitStack, Flow};

fn is_broken_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    error
        .downcast_ref::<io::Error>()
        .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
}

/// Suppresses when something is pending and all of it is a broken pipe: suppressing clears
/// everything pending, so it must not swallow another error with it.
fn suppress_broken_pipe(exit: &Exit<'_>) -> Flow {
    Flow::suppress_if(exit.error().is_some() && exit.errors().all(is_broken_pipe))
}

/// A writer that writes a trailer on shutdown, with the shutdown error policy in front of it.
fn writer_with_shutdown<'a, W: Write + 'a>(stack: &ExitStack<'a>, writer: W) {
    stack.push_exit(suppress_broken_pipe);
    stack
        .guard(writer, |mut writer| {
            writer.write_all(b"trailer\n")?;
            writer.flush()
        })
        .label("write trailer");
}

#[test]
fn a_broken_pipe_on_shutdown_is_suppressed() {
    let (reader, writer) = io::pipe().unwrap();
    drop(reader); // the consumer went away
    let mut stack = ExitStack::new();
    writer_with_shutdown(&stack, writer);
    assert!(stack.close().is_ok());
}

#[test]
fn a_working_pipe_gets_its_trailer() {
    let (mut reader, writer) = io::pipe().unwrap();
    let mut stack = ExitStack::new();
    writer_with_shutdown(&stack, writer);
    stack.close().unwrap();
    let mut text = String::new();
    reader.read_to_string(&mut text).unwrap();
    assert_eq!(text, "trailer\n");
}

#[test]
fn any_other_shutdown_error_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("read-only");
    File::create(&path).unwrap();
    let read_only = File::open(&path).unwrap(); // writing to it fails, but not as a broken pipe
    let mut stack = ExitStack::new();
    writer_with_shutdown(&stack, read_only);
    let errors = stack.close().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("write trailer"));
    let error = errors.first().error().downcast_ref::<io::Error>().unwrap();
    assert_ne!(error.kind(), io::ErrorKind::BrokenPipe);
}

#[test]
fn a_broken_pipe_does_not_carry_another_error_away_with_it() {
    let (reader, writer) = io::pipe().unwrap();
    drop(reader);
    let mut stack = ExitStack::new();
    writer_with_shutdown(&stack, writer);
    stack.callback(|| Err(io::Error::other("disk full")));
    let errors = stack.close().unwrap_err();
    let kinds: Vec<io::ErrorKind> = errors
        .iter()
        .map(|e| e.error().downcast_ref::<io::Error>().unwrap().kind())
        .collect();
    assert_eq!(kinds, [io::ErrorKind::Other, io::ErrorKind::BrokenPipe]);
}

#[test]
fn a_scope_whose_body_hit_a_broken_pipe_reports_it_as_handled() {
    let (reader, mut writer) = io::pipe().unwrap();
    drop(reader);
    let outcome = ExitStack::scope(|stack| {
        stack.push_exit(suppress_broken_pipe);
        writer.write_all(b"body output")?;
        Ok::<_, io::Error>(())
    })
    .unwrap_err();
    assert!(
        outcome.is_suppressed(),
        "the broken pipe should be suppressed: {outcome}"
    );
    let error = outcome.suppressed_error().unwrap();
    assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
}
