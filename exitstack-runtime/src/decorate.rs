//! The runtime side of `#[with_stack]`: run a function body with a fresh stack and unwind it
//! with the body's real return value, so exit handlers see the returned `Err`.

use std::error::Error;
use std::io;
use std::marker::PhantomData;
use std::panic::{self, AssertUnwindSafe};

use crate::error::{BoxError, CleanupError, UnwindError};
use crate::report::{self, ReportReason};
use crate::scope::{unwind_scope, Outcome, ScopeResult};
use crate::stack::ExitStack;

/// A return type that is a `Result`: its parts, and how cleanup errors become its error.
pub trait DecoratedResult: Sized {
    /// The `Ok` type.
    type Ok;
    /// The `Err` type.
    type Err;
    /// Splits the result.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
    /// Rebuilds the result.
    fn from_result(result: Result<Self::Ok, Self::Err>) -> Self;
}

impl<T, E> DecoratedResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    fn into_result(self) -> Self {
        self
    }
    fn from_result(result: Self) -> Self {
        result
    }
}

/// The error of a body, looked at as `dyn Error` where its type allows (autoref dispatch in
/// the generated code picks the first of `ViewError`, `ViewBoxed`, `ViewNone` that applies).
pub struct ErrorView<'e, E>(pub &'e E);

impl<E> Clone for ErrorView<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for ErrorView<'_, E> {}

/// Errors that implement `Error`.
pub trait ViewError<'e> {
    /// The error as `dyn Error`.
    fn view(self) -> Option<&'e (dyn Error + 'static)>;
}
impl<'e, E: Error + 'static> ViewError<'e> for &&ErrorView<'e, E> {
    fn view(self) -> Option<&'e (dyn Error + 'static)> {
        Some(self.0)
    }
}

/// Boxed errors, which do not implement `Error` themselves.
pub trait ViewBoxed<'e> {
    /// The error as `dyn Error`.
    fn view(self) -> Option<&'e (dyn Error + 'static)>;
}
impl<'e> ViewBoxed<'e> for &ErrorView<'e, BoxError> {
    fn view(self) -> Option<&'e (dyn Error + 'static)> {
        Some(&**self.0)
    }
}
impl<'e> ViewBoxed<'e> for &ErrorView<'e, Box<dyn Error>> {
    fn view(self) -> Option<&'e (dyn Error + 'static)> {
        Some(&**self.0)
    }
}

/// Any other error: handlers see a failure without an error value.
pub trait ViewNone<'e> {
    /// Nothing to show.
    fn view(self) -> Option<&'e (dyn Error + 'static)>;
}
impl<'e, E> ViewNone<'e> for ErrorView<'e, E> {
    fn view(self) -> Option<&'e (dyn Error + 'static)> {
        None
    }
}

/// Runs a body that returns a `Result` with a new stack, then unwinds the stack with the
/// outcome: `Ok` closes it ([`Ending::Closed`](crate::Ending::Closed)); `Err` unwinds it as failed, with the error
/// visible to exit handlers; a panic runs every entry and is resumed.
///
/// Cleanup errors after an `Ok` become the function's error (through `convert`); after an
/// `Err`, the body's error is returned and the cleanup errors go to the report channel. A
/// suppressed error is still returned: the function has no other value to return.
pub fn run_result<'a, R, B, V, C>(body: B, view: V, convert: C) -> R
where
    R: DecoratedResult,
    B: FnOnce(&ExitStack<'a>) -> R,
    C: FnOnce(UnwindError) -> R::Err,
    V: for<'e> Fn(&'e R::Err) -> Option<&'e (dyn Error + 'static)>,
{
    let stack = ExitStack::new();
    let result = panic::catch_unwind(AssertUnwindSafe(|| body(&stack).into_result()));
    R::from_result(from_scope(unwind_scope(stack, result, view), convert))
}

/// The failure of a context given to `#[with_stack(context = ..)]` whose `enter` failed, as a
/// one-element [`UnwindError`], for the function to convert like a cleanup error.
pub fn enter_failed(error: impl Into<BoxError>) -> UnwindError {
    UnwindError::from_errors(vec![CleanupError::new(error)]).expect("one error")
}

/// Converts cleanup errors into a decorated function's error type `E`; the generated code picks
/// the first of [`ConvertFrom`] (`E: From<UnwindError>`) and [`ConvertIo`] (`E = io::Error`)
/// that applies, by autoref.
pub struct Convert<E>(PhantomData<fn() -> E>);

impl<E> Convert<E> {
    /// The converter for `E`.
    pub fn new() -> Self {
        Convert(PhantomData)
    }
}

impl<E> Default for Convert<E> {
    fn default() -> Self {
        Convert::new()
    }
}

/// Error types that take an [`UnwindError`] (`Box<dyn Error + Send + Sync>`, `anyhow::Error`,
/// application errors with a `From` impl).
pub trait ConvertFrom<E> {
    /// The errors as `E`.
    fn convert(self, errors: UnwindError) -> E;
}
impl<E: From<UnwindError>> ConvertFrom<E> for &&Convert<E> {
    fn convert(self, errors: UnwindError) -> E {
        E::from(errors)
    }
}

/// `io::Error`, which has no `From<UnwindError>`: the errors become `io::Error::other`.
pub trait ConvertIo {
    /// The errors as an `io::Error` of kind `Other`.
    fn convert(self, errors: UnwindError) -> io::Error;
}
impl ConvertIo for &Convert<io::Error> {
    fn convert(self, errors: UnwindError) -> io::Error {
        io::Error::other(errors)
    }
}

/// Panics for a context whose `enter` failed in a function that cannot return the error.
#[track_caller]
pub fn context_failed(error: impl Into<BoxError>) -> ! {
    panic!("`with_stack` context failed to enter: {}", error.into())
}

/// The result of a decorated function (sync or async) from its scope's result: the body's
/// value, the body's error (even if suppressed; cleanup errors after it are reported), or the
/// cleanup errors as the function's error.
pub fn from_scope<T, E>(
    result: ScopeResult<T, E>,
    convert: impl FnOnce(UnwindError) -> E,
) -> Result<T, E> {
    match result {
        Ok(Outcome::Completed(value)) => Ok(value),
        Ok(Outcome::Suppressed(error)) => Err(error),
        Err(error) => {
            let (body, suppressed, cleanup) = error.into_parts();
            // The body's error, suppressed or not, is the function's; cleanup errors after it
            // have no room in the return value and are reported.
            match body.or(suppressed) {
                Some(error) => {
                    for lost in cleanup.into_iter().flatten() {
                        report::deliver(ReportReason::Dropped, &lost);
                    }
                    Err(error)
                }
                None => Err(convert(cleanup.expect("a failed scope has an error"))),
            }
        }
    }
}

/// Runs a body that returns any other type with a new stack, then closes the stack; cleanup
/// errors go to the report channel (the return type has no room for them). A panic in the body
/// unwinds the stack as [`Ending::Panicked`](crate::Ending::Panicked) and is resumed.
pub fn run_plain<'a, R, B>(body: B) -> R
where
    B: FnOnce(&ExitStack<'a>) -> R,
{
    let mut stack = ExitStack::new();
    // A panic drops the stack, which unwinds it as panicked and then lets the panic go on.
    let value = body(&stack);
    if let Err(errors) = stack.close() {
        for error in &errors {
            report::deliver(ReportReason::Dropped, error);
        }
    }
    value
}
