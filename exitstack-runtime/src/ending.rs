//! How a scope ended ([`Ending`]) and what an exit handler answers ([`Flow`]).

/// How the scope that owns a stack ended. Error-only and success-only entries decide from this.
///
/// A stack dropped without `close` ended [`Panicked`](Ending::Panicked) exactly when the thread
/// is panicking as it drops, else [`Abandoned`](Ending::Abandoned). That includes a stack made
/// inside a destructor that runs during a panic: Rust offers no way to tell that panic from a
/// new one, and when unsure an error-only cleanup had better run than not (both endings run
/// error-only entries; only what handlers see differs).
///
/// Only an async scope knows that its body was cancelled ([`Cancelled`](Ending::Cancelled)): a
/// plain [`AsyncExitStack`](crate::AsyncExitStack) dropped without `aclose` cannot tell a
/// cancelled task from an early return, and ends `Abandoned` (or `Panicked`).
///
/// # Examples
///
/// ```
/// use exitstack::{Ending, ExitStack};
/// use std::cell::Cell;
///
/// let seen = Cell::new(None);
/// let mut stack = ExitStack::new();
/// stack.push_exit(|exit| {
///     seen.set(Some(exit.ending()));
///     exitstack::Flow::Propagate
/// });
/// stack.close().unwrap();
/// assert_eq!(seen.get(), Some(Ending::Succeeded));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ending {
    /// `close` was called, or a scope body returned `Ok`, or it returned `Err` and an exit
    /// handler suppressed that error (entries after the suppressing handler see `Succeeded`).
    Succeeded,
    /// A scope body returned `Err`.
    Failed,
    /// The stack was dropped without `close`: a `?`, an early `return`, a `break`.
    Abandoned,
    /// A panic is unwinding through the scope: the scope body's, or the thread is panicking
    /// when the stack is dropped.
    Panicked,
    /// The body future of an async scope ([`AsyncExitStack::scope`](crate::AsyncExitStack::scope),
    /// `scope_send`, an `async fn` with `#[with_stack]`) was dropped before it finished: a
    /// timeout, a `select!` branch that lost, an aborted task. The scope's stack is dropped with
    /// it: sync entries run then, async ones are reported (or spawned with `spawn_on_drop`).
    /// Not a success: error-only entries run.
    ///
    /// ```
    /// use exitstack::AsyncExitStack;
    /// use std::future::Future;
    /// use std::sync::Mutex;
    /// use std::task::{Context, Waker};
    ///
    /// let seen = Mutex::new(Vec::new());
    /// let mut scope = Box::pin(AsyncExitStack::scope(async |stack| {
    ///     stack.callback_on_error(|| seen.lock().unwrap().push("rolled back".to_owned()));
    ///     stack.push_exit(|exit| seen.lock().unwrap().push(format!("{:?}", exit.ending())));
    ///     std::future::pending::<Result<(), std::fmt::Error>>().await // never finishes
    /// }));
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(scope.as_mut().poll(&mut cx).is_pending());
    /// drop(scope); // e.g. a timeout: the body is cancelled, its stack unwinds as cancelled
    /// assert_eq!(*seen.lock().unwrap(), ["Cancelled", "rolled back"]);
    /// ```
    Cancelled,
}

impl Ending {
    /// `true` for [`Ending::Succeeded`]: the scope finished normally. Every other ending
    /// (`Failed`, `Abandoned`, `Panicked`, `Cancelled`) runs error-only entries.
    ///
    /// ```
    /// assert!(exitstack::Ending::Succeeded.is_success());
    /// assert!(!exitstack::Ending::Abandoned.is_success());
    /// assert!(!exitstack::Ending::Cancelled.is_success());
    /// ```
    pub fn is_success(self) -> bool {
        self == Ending::Succeeded
    }
}

/// An exit handler's answer: let what is pending go on, or suppress it.
///
/// Suppressing clears the scope's error and every cleanup error pending so far (later ones start
/// afresh). A panic cannot be suppressed.
///
/// ```
/// use exitstack::{ExitStack, Flow};
///
/// let mut stack = ExitStack::new();
/// stack.push_exit(|_| Flow::Suppress);
/// stack.callback(|| Err("handled by the exit handler"));
/// assert!(stack.close().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use = "an exit handler must say whether to suppress"]
pub enum Flow {
    /// Leave the pending error (if any) in flight.
    Propagate,
    /// Clear the pending errors.
    Suppress,
}

impl Flow {
    /// `Suppress` when `condition` holds, else `Propagate`.
    ///
    /// ```
    /// use exitstack::Flow;
    /// assert_eq!(Flow::suppress_if(true), Flow::Suppress);
    /// assert_eq!(Flow::suppress_if(false), Flow::Propagate);
    /// ```
    pub fn suppress_if(condition: bool) -> Flow {
        if condition {
            Flow::Suppress
        } else {
            Flow::Propagate
        }
    }
}
