//! What a cleanup or an exit handler may return, so that one registration takes both the
//! infallible and the fallible form (`callback(|| ..)` returning `()` or `Result<(), E>`).

use crate::ending::Flow;
use crate::error::BoxError;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::never::Never {}
    impl Sealed for () {}
    impl Sealed for crate::ending::Flow {}
    impl<E> Sealed for Result<(), E> {}
    impl<E> Sealed for Result<crate::ending::Flow, E> {}
}

/// The never type `!`, nameable on stable Rust through a function pointer's output: a closure
/// that only panics (`|| panic!(..)`) returns it, and without these impls rustc would fall back
/// to `()` with a future-compatibility warning (an error in edition 2024).
mod never {
    pub trait HasOutput {
        type Output;
    }
    impl<T> HasOutput for fn() -> T {
        type Output = T;
    }
    pub type Never = <fn() -> ! as HasOutput>::Output;
}

/// What a cleanup may return: `()` (it cannot fail) or `Result<(), E>` whose error converts
/// into [`BoxError`] (any `std` error, `anyhow::Error`, a string). An `Err` joins the stack's
/// result, labelled with the cleanup's registration.
///
/// Taken by [`callback`](crate::ExitStack::callback),
/// [`callback_on_error`](crate::ExitStack::callback_on_error),
/// [`callback_on_success`](crate::ExitStack::callback_on_success),
/// [`guard`](crate::ExitStack::guard), the async registrations and `#[managed]` closers.
///
/// ```
/// use exitstack::ExitStack;
///
/// let mut stack = ExitStack::new();
/// stack.callback(|| ()); // cannot fail
/// stack.callback(|| std::fs::remove_file("/nonexistent/exitstack-doc")); // io::Result<()>
/// stack.callback(|| Err::<(), _>("a string is an error too"));
/// assert_eq!(stack.close().unwrap_err().len(), 2);
/// ```
#[diagnostic::on_unimplemented(
    message = "a cleanup must return `()` or `Result<(), E>` with `E: Into<BoxError>`, not `{Self}`",
    label = "returns `{Self}`",
    note = "an error type converts when it implements `std::error::Error + Send + Sync`, or is `anyhow::Error` or a string"
)]
pub trait CleanupOutput: sealed::Sealed {
    /// The outcome as a boxed result.
    #[doc(hidden)]
    fn into_result(self) -> Result<(), BoxError>;
}

impl CleanupOutput for never::Never {
    fn into_result(self) -> Result<(), BoxError> {
        self
    }
}

impl CleanupOutput for () {
    #[inline]
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> CleanupOutput for Result<(), E> {
    #[inline]
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// What an exit handler may return: [`Flow`] (propagate or suppress), `()` (propagate), or
/// either inside a `Result` whose error converts into [`BoxError`] (the handler itself failed).
///
/// Taken by [`push_exit`](crate::ExitStack::push_exit) and
/// [`push_async_exit`](crate::AsyncExitStack::push_async_exit).
///
/// ```
/// use exitstack::{ExitStack, Flow};
///
/// let mut stack = ExitStack::new();
/// stack.push_exit(|_| Err::<(), _>("the handler itself failed")); // runs last
/// stack.push_exit(|exit| Flow::suppress_if(exit.error().is_some())); // clears what is pending
/// stack.push_exit(|exit| assert!(exit.error().is_some())); // only looks: `()` propagates
/// stack.callback(|| Err::<(), _>("cleanup failed")); // runs first
/// let errors = stack.close().unwrap_err();
/// assert_eq!(errors.len(), 1);
/// assert_eq!(errors.first().error().to_string(), "the handler itself failed");
/// ```
#[diagnostic::on_unimplemented(
    message = "an exit handler must return `Flow`, `()`, or a `Result` of either whose error converts into `BoxError`, not `{Self}`",
    label = "returns `{Self}`",
    note = "to suppress what is pending (Python's `return True`), return `Flow::suppress_if(condition)`"
)]
pub trait ExitOutput: sealed::Sealed {
    /// The answer as a boxed result.
    #[doc(hidden)]
    fn into_flow(self) -> Result<Flow, BoxError>;
}

impl ExitOutput for never::Never {
    fn into_flow(self) -> Result<Flow, BoxError> {
        self
    }
}

impl ExitOutput for Flow {
    #[inline]
    fn into_flow(self) -> Result<Flow, BoxError> {
        Ok(self)
    }
}

impl ExitOutput for () {
    #[inline]
    fn into_flow(self) -> Result<Flow, BoxError> {
        Ok(Flow::Propagate)
    }
}

impl<E: Into<BoxError>> ExitOutput for Result<Flow, E> {
    #[inline]
    fn into_flow(self) -> Result<Flow, BoxError> {
        self.map_err(Into::into)
    }
}

impl<E: Into<BoxError>> ExitOutput for Result<(), E> {
    #[inline]
    fn into_flow(self) -> Result<Flow, BoxError> {
        self.map(|()| Flow::Propagate).map_err(Into::into)
    }
}
