//! `#[with_stack]`: every error type a function can return reaches exit handlers through
//! `Exit::error`, under any name (no type name is guessed); and one LIFO order for every cleanup
//! of the function, bare `defer!` included.

use std::error::Error;
use std::io;

use exitstack::{defer, with_stack, UnwindError};

use exitstack_tests::thread_log::{log, taken};

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
    assert_eq!(
        taken(),
        ["Succeeded without an error", "saw gone (io: true)"]
    );
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
        ["Succeeded without an error", "saw app: gone (io: false)"]
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

#[with_stack(stack)]
fn panic_only(how: &str) -> Res<()> {
    defer!(on_panic { log("bare on_panic"); });
    defer!(on_no_panic { log("bare on_no_panic"); });
    defer!(stack => { log("stack entry, registered last"); });
    match how {
        "panic" => panic!("boom"),
        "error" => Err(not_found())?,
        _ => {}
    }
    Ok(())
}

/// `on_panic` / `on_no_panic` keep their meaning when `#[with_stack]` registers them on the
/// function's stack: a `?` is not a panic. They join the one LIFO order.
#[test]
fn bare_on_panic_registers_on_the_stack_and_still_means_panic() {
    assert!(panic_only("error").is_err());
    assert_eq!(
        taken(),
        ["stack entry, registered last", "bare on_no_panic"]
    );
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| panic_only("panic")));
    assert!(panicked.is_err());
    assert_eq!(taken(), ["stack entry, registered last", "bare on_panic"]);
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

// `async fn`: the same error types reach the same handlers, sync (`push_exit`), async
// (`push_async_exit`) and `defer!(stack => |err| ..)`, through the async scope's view.

/// [`record_error!`], plus an async exit handler and a `defer!` that see the error too.
macro_rules! record_error_async {
    ($stack:ident) => {
        record_error!($stack);
        $stack.push_async_exit(|exit| {
            let line = match exit.error() {
                Some(error) => {
                    let io = error.downcast_ref::<io::Error>().is_some();
                    format!("async saw {error} (io: {io})")
                }
                None => format!("async: {:?} without an error", exit.ending()),
            };
            async move {
                tokio::task::yield_now().await;
                log(line);
                exitstack::Flow::Propagate
            }
        });
        defer!($stack => |err| { log(format!("defer saw {err}")); });
    };
}

/// Runs a future to completion on a current-thread runtime (the log is thread-local).
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// Spawns a future, which must be `Send`, and waits for it on a current-thread runtime (the
/// task runs on this thread, so the thread-local log still sees it).
fn spawned<F>(future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    block_on(async { tokio::spawn(future).await.unwrap() })
}

/// The three handlers' lines for an error `gone` (an `io::Error` underneath).
const SAW_GONE: [&str; 3] = [
    "defer saw gone",
    "async saw gone (io: true)",
    "saw gone (io: true)",
];

#[with_stack(stack)]
async fn with_anyhow_async(fail: bool) -> anyhow::Result<u32> {
    record_error_async!(stack);
    tokio::task::yield_now().await;
    if fail {
        Err(not_found())?;
    }
    Ok(1)
}

#[test]
fn anyhow_errors_reach_exit_handlers_async() {
    assert_eq!(block_on(with_anyhow_async(false)).unwrap(), 1);
    assert_eq!(
        taken(),
        [
            "async: Succeeded without an error",
            "Succeeded without an error"
        ]
    );
    let error = block_on(with_anyhow_async(true)).unwrap_err();
    assert!(error.downcast_ref::<io::Error>().is_some());
    assert_eq!(taken(), SAW_GONE);
}

#[with_stack(stack)]
async fn with_eyre_async() -> eyre::Result<u32> {
    record_error_async!(stack);
    tokio::task::yield_now().await;
    Err(not_found())?
}

#[test]
fn eyre_reports_reach_exit_handlers_async() {
    assert!(block_on(with_eyre_async()).is_err());
    assert_eq!(taken(), SAW_GONE);
}

#[with_stack(stack)]
async fn with_local_box_async() -> Result<u32, Box<dyn Error>> {
    record_error_async!(stack);
    tokio::task::yield_now().await;
    Err(not_found())?
}

#[with_stack(stack)]
async fn with_send_box_async() -> Result<u32, Box<dyn Error + Send + Sync>> {
    record_error_async!(stack);
    tokio::task::yield_now().await;
    Err(not_found())?
}

#[test]
fn boxed_errors_reach_exit_handlers_async() {
    assert!(block_on(with_local_box_async()).is_err());
    assert_eq!(taken(), SAW_GONE);
    assert!(block_on(with_send_box_async()).is_err());
    assert_eq!(taken(), SAW_GONE);
}

#[with_stack(stack, send)]
async fn with_anyhow_send(fail: bool) -> anyhow::Result<u32> {
    record_error_async!(stack);
    tokio::task::yield_now().await;
    if fail {
        Err(not_found())?;
    }
    Ok(1)
}

#[with_stack(stack, send)]
async fn with_eyre_send() -> eyre::Result<u32> {
    record_error_async!(stack);
    tokio::task::yield_now().await;
    Err(not_found())?
}

#[with_stack(stack, send)]
async fn with_send_box_send() -> Result<u32, Box<dyn Error + Send + Sync>> {
    record_error_async!(stack);
    tokio::task::yield_now().await;
    Err(not_found())?
}

#[test]
fn send_forms_are_spawned_and_their_errors_reach_exit_handlers() {
    assert_eq!(spawned(with_anyhow_send(false)).unwrap(), 1);
    assert_eq!(
        taken(),
        [
            "async: Succeeded without an error",
            "Succeeded without an error"
        ]
    );
    let error = spawned(with_anyhow_send(true)).unwrap_err();
    assert!(error.downcast_ref::<io::Error>().is_some());
    assert_eq!(taken(), SAW_GONE);
    assert!(spawned(with_eyre_send()).is_err());
    assert_eq!(taken(), SAW_GONE);
    assert!(spawned(with_send_box_send()).is_err());
    assert_eq!(taken(), SAW_GONE);
}

/// An async exit handler suppresses the error (found by downcasting through `anyhow`): older
/// handlers see a closed scope, and the function still returns it, as in the sync form.
#[with_stack(stack)]
async fn suppressed_anyhow() -> anyhow::Result<u32> {
    record_error!(stack);
    stack.push_async_exit(|exit| {
        let suppress = exit
            .error()
            .and_then(|e| e.downcast_ref::<io::Error>())
            .is_some_and(|e| e.kind() == io::ErrorKind::NotFound);
        async move { exitstack::Flow::suppress_if(suppress) }
    });
    Err(not_found())?
}

#[test]
fn a_suppressed_anyhow_error_is_still_returned_async() {
    let error = block_on(suppressed_anyhow()).unwrap_err();
    assert!(error.downcast_ref::<io::Error>().is_some());
    assert_eq!(taken(), ["Succeeded without an error"]);
}

/// `Ok`, then cleanups fail: the cleanup errors become the function's `anyhow::Error`.
#[with_stack(stack)]
async fn cleanup_fails_anyhow() -> anyhow::Result<u32> {
    stack.callback(|| Err("sync cleanup failed"));
    stack.push_async_callback(|| async {
        tokio::task::yield_now().await;
        Err::<(), _>("async cleanup failed")
    });
    record_error_async!(stack);
    Ok(5)
}

#[with_stack(stack, send)]
async fn cleanup_fails_send_box() -> Result<u32, Box<dyn Error + Send + Sync>> {
    stack.push_async_callback(|| async { Err::<(), _>("async cleanup failed") });
    Ok(5)
}

#[with_stack(stack)]
async fn cleanup_fails_local_box() -> Result<u32, Box<dyn Error>> {
    stack.callback(|| Err("sync cleanup failed"));
    Ok(5)
}

/// The messages of the cleanup errors in an `UnwindError`.
fn messages(errors: &UnwindError) -> Vec<String> {
    errors.iter().map(|e| e.error().to_string()).collect()
}

#[test]
fn cleanup_errors_after_ok_become_the_functions_error_async() {
    let error = block_on(cleanup_fails_anyhow()).unwrap_err();
    let cleanup = error.downcast_ref::<UnwindError>().unwrap();
    assert_eq!(
        messages(cleanup),
        ["async cleanup failed", "sync cleanup failed"]
    );
    // The handlers ran on a closed scope: the body had no error.
    assert_eq!(
        taken(),
        [
            "async: Succeeded without an error",
            "Succeeded without an error"
        ]
    );

    let error = spawned(cleanup_fails_send_box()).unwrap_err();
    let cleanup = error.downcast_ref::<UnwindError>().unwrap();
    assert_eq!(messages(cleanup), ["async cleanup failed"]);

    let error = block_on(cleanup_fails_local_box()).unwrap_err();
    let cleanup = error.downcast_ref::<UnwindError>().unwrap();
    assert_eq!(messages(cleanup), ["sync cleanup failed"]);
}

/// A context that logs its exit with the error it saw, or fails to enter.
struct Logged(&'static str, bool);

impl exitstack::Context for Logged {
    type Target = &'static str;
    type Error = io::Error;
    fn enter(self) -> io::Result<&'static str> {
        if self.1 {
            return Err(io::Error::other(format!("{} refused", self.0)));
        }
        Ok(self.0)
    }
    fn exit(name: &'static str, exit: &exitstack::Exit<'_>) -> io::Result<exitstack::Flow> {
        let seen = exit.error().map(ToString::to_string);
        log(format!("exit {name}: {seen:?}"));
        Ok(exitstack::Flow::Propagate)
    }
}

#[with_stack(context = Logged("outer", false), context = Logged("inner", refuse))]
async fn with_contexts_async(refuse: bool) -> anyhow::Result<u32> {
    tokio::task::yield_now().await;
    Err(not_found())?
}

#[with_stack(context = Logged("outer", false), context = Logged("inner", refuse), send)]
async fn with_contexts_send(refuse: bool) -> Result<u32, Box<dyn Error + Send + Sync>> {
    tokio::task::yield_now().await;
    Err(not_found())?
}

#[test]
fn contexts_see_the_error_and_a_failed_enter_becomes_it_async() {
    let error = block_on(with_contexts_async(false)).unwrap_err();
    assert!(error.downcast_ref::<io::Error>().is_some());
    assert_eq!(
        taken(),
        [r#"exit inner: Some("gone")"#, r#"exit outer: Some("gone")"#]
    );
    // The inner context refuses: the outer one exits, and the failure is the function's error.
    let error = block_on(with_contexts_async(true)).unwrap_err();
    let cleanup = error.downcast_ref::<UnwindError>().unwrap();
    assert_eq!(messages(cleanup), ["inner refused"]);
    assert_eq!(
        taken(),
        [r#"exit outer: Some("cleanup failed: inner refused")"#]
    );

    assert!(spawned(with_contexts_send(false)).is_err());
    assert_eq!(
        taken(),
        [r#"exit inner: Some("gone")"#, r#"exit outer: Some("gone")"#]
    );
    let error = spawned(with_contexts_send(true)).unwrap_err();
    let cleanup = error.downcast_ref::<UnwindError>().unwrap();
    assert_eq!(messages(cleanup), ["inner refused"]);
    assert_eq!(
        taken(),
        [r#"exit outer: Some("cleanup failed: inner refused")"#]
    );
}
