//! `#[with_stack]`: every error type a function can return reaches exit handlers through
//! `Exit::error`, under any name (no type name is guessed); and one LIFO order for every cleanup
//! of the function, bare `defer!` included.

use std::cell::RefCell;
use std::error::Error;
use std::io;

use exitstack::{defer, with_stack, UnwindError};

thread_local! {
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn log(line: impl Into<String>) {
    LOG.with(|log| log.borrow_mut().push(line.into()));
}

fn taken() -> Vec<String> {
    LOG.with(|log| std::mem::take(&mut *log.borrow_mut()))
}

/// What an exit handler sees: the error's text, and whether it downcasts to `io::Error`.
macro_rules! record_error {
    ($stack:ident) => {
        $stack.push_exit(|exit| {
            match exit.error() {
                Some(error) => {
                    let io = error.downcast_ref::<io::Error>().is_some();
                    log(format!("saw {error} (io: {io})"));
                }
                None => log(format!("{:?} without an error", exit.ending())),
            }
            exitstack::Flow::Propagate
        })
    };
}

fn not_found() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "gone")
}

#[with_stack(stack)]
fn with_anyhow(fail: bool) -> anyhow::Result<u32> {
    record_error!(stack);
    if fail {
        Err(not_found())?;
    }
    Ok(1)
}

#[test]
fn anyhow_errors_reach_exit_handlers() {
    assert_eq!(with_anyhow(false).unwrap(), 1);
    assert!(with_anyhow(true).is_err());
    assert_eq!(taken(), ["Closed without an error", "saw gone (io: true)"]);
}

#[with_stack(stack)]
fn with_eyre() -> eyre::Result<u32> {
    record_error!(stack);
    Err(not_found())?
}

#[test]
fn eyre_reports_reach_exit_handlers() {
    assert!(with_eyre().is_err());
    assert_eq!(taken(), ["saw gone (io: true)"]);
}

#[with_stack(stack)]
fn with_local_box() -> Result<u32, Box<dyn Error>> {
    record_error!(stack);
    Err(not_found())?
}

#[with_stack(stack)]
fn with_send_box() -> Result<u32, Box<dyn Error + Send + Sync>> {
    record_error!(stack);
    Err(not_found())?
}

#[with_stack(stack)]
fn with_io() -> io::Result<u32> {
    record_error!(stack);
    Err(not_found())
}

#[test]
fn boxed_and_io_errors_reach_exit_handlers() {
    assert!(with_local_box().is_err());
    assert!(with_send_box().is_err());
    assert!(with_io().is_err());
    assert_eq!(taken(), ["saw gone (io: true)"; 3]);
}

#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error("app: {0}")]
    Io(#[from] io::Error),
    #[error("cleanup: {0}")]
    Cleanup(#[from] UnwindError),
}

/// An alias of `Result`: the name does not change the semantics.
type Res<T> = Result<T, AppError>;

#[with_stack(stack)]
fn with_alias(fail: bool) -> Res<u32> {
    record_error!(stack);
    if fail {
        Err(not_found())?;
    }
    Ok(2)
}

#[test]
fn thiserror_enums_behind_an_alias_reach_exit_handlers() {
    assert_eq!(with_alias(false).unwrap(), 2);
    assert!(matches!(with_alias(true), Err(AppError::Io(_))));
    assert_eq!(
        taken(),
        ["Closed without an error", "saw app: gone (io: false)"]
    );
}

/// A type named `Result` that is not one: not guessed from its name either.
mod shadowed {
    use super::{defer, log, with_stack};

    pub struct Result<T>(pub T);

    #[with_stack(stack)]
    pub fn not_a_result() -> Result<u32> {
        defer!(stack => on_success { log("closed"); });
        Result(3)
    }
}

#[test]
fn a_type_named_result_is_not_taken_for_one() {
    assert_eq!(shadowed::not_a_result().0, 3);
    assert_eq!(taken(), ["closed"]);
}

#[with_stack(stack)]
fn order(fail: bool) -> Res<()> {
    defer! { log("bare, registered first"); }
    defer!(stack => { log("stack entry"); });
    defer!(on_error { log("bare on_error, registered last"); });
    {
        defer! { log("inner block: runs at its end"); }
    }
    if fail {
        Err(not_found())?;
    }
    Ok(())
}

#[test]
fn bare_defers_share_the_functions_lifo_order() {
    order(false).unwrap();
    assert_eq!(
        taken(),
        [
            "inner block: runs at its end",
            "stack entry",
            "bare, registered first"
        ]
    );
    // `on_error` follows the real outcome: a `?`, not only a panic.
    assert!(order(true).is_err());
    assert_eq!(
        taken(),
        [
            "inner block: runs at its end",
            "bare on_error, registered last",
            "stack entry",
            "bare, registered first",
        ]
    );
}

#[with_stack]
fn order_without_binding() -> u32 {
    defer! { log("first registered"); }
    defer! { log("second registered"); }
    4
}

#[test]
fn bare_defers_get_a_stack_without_a_binding_name() {
    assert_eq!(order_without_binding(), 4);
    assert_eq!(taken(), ["second registered", "first registered"]);
}

#[with_stack(stack)]
async fn order_async() -> Res<()> {
    defer! { log("bare, registered first"); }
    defer!(stack => async { log("async entry"); });
    Ok(())
}

#[test]
fn bare_defers_share_the_lifo_order_of_async_functions() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(order_async()).unwrap();
    assert_eq!(taken(), ["async entry", "bare, registered first"]);
}
