//! `#[with_stack]`: the body's stack is unwound with the function's real return value.

use std::cell::RefCell;
use std::convert::Infallible;
use std::fmt;
use std::panic::catch_unwind;
use std::sync::{Arc, Mutex};

use exitstack::{defer, report, stack_callback, with_stack, Context, Exit, Flow, UnwindError};

#[derive(Debug)]
enum AppError {
    Body(&'static str),
    Cleanup(UnwindError),
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppError::Body(what) => write!(f, "body: {what}"),
            AppError::Cleanup(errors) => write!(f, "cleanup: {errors}"),
        }
    }
}

impl std::error::Error for AppError {}

impl From<UnwindError> for AppError {
    fn from(errors: UnwindError) -> Self {
        AppError::Cleanup(errors)
    }
}

use exitstack_tests::thread_log::{log, taken};

#[with_stack(stack)]
fn work(fail: bool) -> Result<u32, AppError> {
    defer!(stack => { log("always"); });
    defer!(stack => on_error { log("rolled back"); });
    defer!(stack => on_success { log("committed"); });
    defer!(stack => |err| { log(format!("saw {err}")); });
    if fail {
        return Err(AppError::Body("refused"));
    }
    Ok(7)
}

#[test]
fn handlers_see_the_returned_error() {
    assert_eq!(work(false).unwrap(), 7);
    assert_eq!(taken(), ["committed", "always"]);
    assert!(matches!(work(true), Err(AppError::Body("refused"))));
    assert_eq!(taken(), ["saw body: refused", "rolled back", "always"]);
}

#[with_stack(stack)]
fn question_mark(input: &str) -> Result<i32, Box<dyn std::error::Error + Send + Sync>> {
    defer!(stack => |err| { log(format!("saw {err}")); });
    let value: i32 = input.parse()?;
    Ok(value)
}

#[test]
fn boxed_errors_and_question_mark() {
    assert_eq!(question_mark("5").unwrap(), 5);
    assert!(question_mark("x").is_err());
    assert_eq!(taken(), ["saw invalid digit found in string"]);
}

fn failing_cleanup() -> Result<(), &'static str> {
    Err("cleanup failed")
}

#[with_stack(stack)]
fn cleanup_fails(body_fails: bool) -> Result<(), AppError> {
    stack_callback!(stack, failing_cleanup);
    if body_fails {
        return Err(AppError::Body("body failed"));
    }
    Ok(())
}

#[test]
fn cleanup_errors_become_the_error_or_are_reported() {
    match cleanup_fails(false) {
        Err(AppError::Cleanup(errors)) => {
            assert_eq!(errors.first().error().to_string(), "cleanup failed");
        }
        other => panic!("unexpected {other:?}"),
    }
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let result = report::with_reporter(
        move |report: &report::Report<'_>| sink.lock().unwrap().push(report.error().to_string()),
        || cleanup_fails(true),
    );
    assert!(matches!(result, Err(AppError::Body("body failed"))));
    assert_eq!(*reports.lock().unwrap(), ["cleanup failed: cleanup failed"]);
}

#[with_stack(stack)]
fn plain(n: u32) -> u32 {
    defer!(stack => { log(format!("plain {n}")); });
    n * 2
}

#[test]
fn functions_without_result_get_a_stack_too() {
    assert_eq!(plain(4), 8);
    assert_eq!(taken(), ["plain 4"]);
}

#[with_stack(stack)]
fn panics() -> Result<(), AppError> {
    defer!(stack => on_error { log("ran during the panic"); });
    panic!("body panicked");
}

#[test]
fn a_panic_unwinds_the_stack_and_is_resumed() {
    let panic = catch_unwind(panics).unwrap_err();
    assert_eq!(*panic.downcast_ref::<&str>().unwrap(), "body panicked");
    assert_eq!(taken(), ["ran during the panic"]);
}

struct Counter {
    count: RefCell<u32>,
}

impl Counter {
    #[with_stack(stack)]
    fn bump(&self, by: u32) -> Result<u32, AppError> {
        defer!(stack => { *self.count.borrow_mut() += 100; });
        *self.count.borrow_mut() += by;
        Ok(*self.count.borrow())
    }
}

#[test]
fn methods_can_use_self_in_deferred_blocks() {
    let counter = Counter {
        count: RefCell::new(0),
    };
    assert_eq!(counter.bump(1).unwrap(), 1);
    assert_eq!(*counter.count.borrow(), 101);
}

/// Logs entry and exit: the decorator enters it without the body knowing.
struct Traced(&'static str);

impl Context for Traced {
    type Target = &'static str;
    type Error = Infallible;
    fn enter(self) -> Result<&'static str, Infallible> {
        log(format!("enter {}", self.0));
        Ok(self.0)
    }
    fn exit(name: &'static str, exit: &Exit<'_>) -> Result<Flow, Infallible> {
        log(format!(
            "exit {name}, failed: {}",
            !exit.ending().is_success()
        ));
        Ok(Flow::Propagate)
    }
}

#[with_stack(context = Traced("traced"))]
fn traced(fail: bool) -> Result<(), AppError> {
    if fail {
        Err(AppError::Body("no"))
    } else {
        Ok(())
    }
}

#[test]
fn context_option_wraps_an_unchanged_body() {
    traced(false).unwrap();
    traced(true).unwrap_err();
    assert_eq!(
        taken(),
        [
            "enter traced",
            "exit traced, failed: false",
            "enter traced",
            "exit traced, failed: true"
        ]
    );
}

fn failing_io_cleanup() -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe))
}

#[with_stack(stack)]
fn io_function(path: &std::path::Path) -> std::io::Result<String> {
    defer!(stack => |err| { log(format!("io saw {err}")); });
    stack_callback!(stack, failing_io_cleanup);
    std::fs::read_to_string(path)
}

#[test]
fn io_result_functions_get_cleanup_errors_as_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.txt");
    std::fs::write(&path, "content").unwrap();
    // The body succeeded, the cleanup failed: an `io::Error` of kind `Other` wraps it.
    let error = io_function(&path).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::Other);
    let cleanup = error
        .get_ref()
        .unwrap()
        .downcast_ref::<UnwindError>()
        .unwrap();
    assert_eq!(cleanup.first().error().to_string(), "broken pipe");
    assert_eq!(taken(), ["io saw broken pipe"]);
}

/// A handler suppresses the returned error, then an older cleanup fails.
#[with_stack(stack)]
fn suppressed_then_cleanup_fails() -> Result<u32, AppError> {
    stack.callback(|| Err("flush failed"));
    stack.push_exit(|exit| Flow::suppress_if(exit.is_scope_error()));
    Err(AppError::Body("handled"))
}

#[test]
fn a_suppressed_error_is_still_returned_and_later_cleanup_errors_are_reported() {
    let (result, reports) = exitstack_tests::capture_reports(suppressed_then_cleanup_fails);
    assert!(
        matches!(result, Err(AppError::Body("handled"))),
        "{result:?}"
    );
    let messages: Vec<&str> = reports.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(messages, ["flush failed"]);
}

/// `impl Trait` in the `Ok` type: the hidden type is inferred from the body.
#[with_stack(stack)]
fn evens(limit: u32, fail: bool) -> Result<impl Iterator<Item = u32>, std::io::Error> {
    defer!(stack => { log("evens cleaned up"); });
    defer!(stack => |err| { log(format!("evens saw {err}")); });
    if fail {
        return Err(std::io::Error::other("no evens"));
    }
    Ok((0..limit).filter(|n| n % 2 == 0))
}

/// The same through an alias with a default error type, as `anyhow::Result<impl Display>`.
mod alias {
    pub type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
}

#[with_stack(stack)]
fn shown(text: &str, cleanup_fails: bool) -> alias::Result<impl fmt::Display + '_> {
    defer!(stack => { log("shown cleaned up"); });
    if cleanup_fails {
        stack_callback!(stack, failing_cleanup);
    }
    let value: u32 = text.parse()?;
    Ok(format!("{text} = {value}"))
}

#[test]
fn a_result_of_impl_trait_is_returned_sync() {
    assert_eq!(evens(7, false).unwrap().collect::<Vec<_>>(), [0, 2, 4, 6]);
    assert_eq!(taken(), ["evens cleaned up"]);
    assert_eq!(evens(7, true).err().unwrap().to_string(), "no evens");
    assert_eq!(taken(), ["evens saw no evens", "evens cleaned up"]);

    assert_eq!(shown("12", false).unwrap().to_string(), "12 = 12");
    assert_eq!(taken(), ["shown cleaned up"]);
    let error = shown("x", false).err().unwrap();
    assert_eq!(error.to_string(), "invalid digit found in string");
    assert_eq!(taken(), ["shown cleaned up"]);
    // A cleanup error after `Ok` becomes the function's error, as for any `Result`.
    let error = shown("3", true).err().unwrap();
    let cleanup = error.downcast_ref::<UnwindError>().unwrap();
    assert_eq!(cleanup.first().error().to_string(), "cleanup failed");
    assert_eq!(taken(), ["shown cleaned up"]);
}

/// Registers twelve callbacks, more than a stack holds inline (its arena then owns a chunk),
/// then returns, fails or panics.
#[with_stack(stack)]
fn past_the_inline_words(end: &'static str) -> Result<u32, AppError> {
    for id in 0..12 {
        stack.callback(move || log(format!("{id}")));
    }
    match end {
        "fail" => Err(AppError::Body("failed")),
        "panic" => panic!("the body panics"),
        _ => Ok(12),
    }
}

#[test]
fn a_function_whose_stack_needs_a_chunk_runs_every_cleanup_and_frees_it_on_every_ending() {
    // The decorator skips the drop of a stack that stayed inline; one with a chunk must still
    // be freed (Miri's and valgrind's leak checks fail here otherwise).
    let expected: Vec<String> = (0..12).rev().map(|id| id.to_string()).collect();
    assert_eq!(past_the_inline_words("return").unwrap(), 12);
    assert_eq!(taken(), expected);
    assert!(matches!(
        past_the_inline_words("fail"),
        Err(AppError::Body("failed"))
    ));
    assert_eq!(taken(), expected);
    assert!(catch_unwind(|| past_the_inline_words("panic")).is_err());
    assert_eq!(taken(), expected);
}
