//! Support for the macros: the field wrapper of `#[managed]` structs ([`Field`]), the error of
//! a rolled-back construction ([`RollbackError`]), and the hidden helpers generated code calls.
//!
//! Field teardown reuses the stack's unwind: each field is registered on a local
//! [`ExitStack`], so a panicking closer never stops the others and nothing aborts during a panic.

use std::error::Error;
use std::fmt;
use std::ops::{Deref, DerefMut};

use crate::error::{BoxError, UnwindError};
use crate::report;
use crate::stack::ExitStack;

/// A field of a [`#[managed]`](crate::managed) struct: the value, which derefs to `T`, held so
/// that the generated teardown can move it out and pass it to its closer by value.
///
/// Build it with `Field::new(value)` or `value.into()`; use it like the value itself.
///
/// ```
/// use exitstack::Field;
///
/// let mut names: Field<Vec<&str>> = Vec::new().into();
/// names.push("used through DerefMut");
/// assert_eq!(names.len(), 1);
/// assert_eq!(names.into_inner(), ["used through DerefMut"]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Field<T> {
    /// `None` only once the teardown has taken the value, after which nobody can reach it.
    value: Option<T>,
}

impl<T> Field<T> {
    /// Wraps a value.
    ///
    /// ```
    /// let answer = exitstack::Field::new(42);
    /// assert_eq!(*answer, 42);
    /// ```
    pub const fn new(value: T) -> Self {
        Field { value: Some(value) }
    }

    /// Takes the value out; it will not be torn down by the struct.
    ///
    /// ```
    /// let name = exitstack::Field::new(String::from("kept"));
    /// assert_eq!(name.into_inner(), "kept");
    /// ```
    pub fn into_inner(self) -> T {
        self.value.unwrap_or_else(|| taken())
    }
}

#[cold]
#[track_caller]
fn taken() -> ! {
    unreachable!("a managed field was used after its teardown")
}

impl<T> From<T> for Field<T> {
    fn from(value: T) -> Self {
        Field::new(value)
    }
}

impl<T> Deref for Field<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().unwrap_or_else(|| taken())
    }
}

impl<T> DerefMut for Field<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().unwrap_or_else(|| taken())
    }
}

impl<T: fmt::Debug> fmt::Debug for Field<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => fmt::Debug::fmt(value, f),
            None => f.write_str("<torn down>"),
        }
    }
}

/// A construction that failed part-way: the acquisition's error, and the errors of tearing down
/// the fields acquired before it (if any failed).
///
/// ```
/// use exitstack::RollbackError;
/// use std::fmt;
///
/// let error = RollbackError::new(fmt::Error, None);
/// assert!(error.teardown_errors().is_none());
/// assert_eq!(error.to_string(), "an error occurred when formatting an argument");
/// ```
pub struct RollbackError<E> {
    error: E,
    teardown: Option<UnwindError>,
}

impl<E> RollbackError<E> {
    /// Pairs an acquisition error with the errors of the rollback it caused.
    pub fn new(error: E, teardown: Option<UnwindError>) -> Self {
        RollbackError { error, teardown }
    }

    /// The error of the acquisition that failed.
    pub fn error(&self) -> &E {
        &self.error
    }

    /// The errors of tearing down what had been acquired, in teardown order.
    pub fn teardown_errors(&self) -> Option<&UnwindError> {
        self.teardown.as_ref()
    }

    /// The acquisition error, dropping the teardown errors.
    pub fn into_error(self) -> E {
        self.error
    }

    /// Both parts.
    pub fn into_parts(self) -> (E, Option<UnwindError>) {
        (self.error, self.teardown)
    }
}

impl<E: fmt::Debug> fmt::Debug for RollbackError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RollbackError")
            .field("error", &self.error)
            .field("teardown", &self.teardown)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for RollbackError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.teardown {
            None => write!(f, "{}", self.error),
            Some(teardown) => write!(f, "{}; then rolling back, {teardown}", self.error),
        }
    }
}

impl<E: Error + 'static> Error for RollbackError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.error)
    }
}

/// What a closer may return: `()` or a `Result` whose error converts into [`BoxError`].
#[diagnostic::on_unimplemented(
    message = "a closer must return `()` or `Result<(), E>` with `E: Into<BoxError>`, not `{Self}`",
    label = "returns `{Self}`"
)]
pub trait CloserOutput {
    /// The outcome as a boxed result.
    fn into_result(self) -> Result<(), BoxError>;
}

impl CloserOutput for () {
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> CloserOutput for Result<(), E> {
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// The teardown of one managed struct: fields registered on a local stack, newest first.
pub struct Teardown<'a> {
    stack: ExitStack<'a>,
}

impl Default for Teardown<'_> {
    fn default() -> Self {
        Teardown::new()
    }
}

impl<'a> Teardown<'a> {
    /// An empty teardown.
    pub fn new() -> Self {
        Teardown {
            stack: ExitStack::new(),
        }
    }

    /// Registers a field released by `closer`. Registration is last-in-first-out, so the
    /// generated code registers fields in reverse teardown order. A taken field is skipped.
    #[track_caller]
    pub fn close<T, R, F>(&self, field: &mut Field<T>, label: &'static str, closer: F)
    where
        T: 'a,
        F: FnOnce(T) -> R + 'a,
        R: CloserOutput,
    {
        if let Some(value) = field.value.take() {
            let entry = self
                .stack
                .try_guard(value, move |value| closer(value).into_result());
            let _ = entry.label(label);
        }
    }

    /// Registers a field released by dropping it; errors its `Drop` hands to
    /// [`report::from_drop`] join the teardown's result.
    #[track_caller]
    pub fn drop<T: 'a>(&self, field: &mut Field<T>, label: &'static str) {
        if let Some(value) = field.value.take() {
            let _ = self.stack.enter(value).label(label);
        }
    }

    /// Runs the teardown and returns every error, in teardown order. If a closer panicked, the
    /// panic is resumed once every field has been released.
    pub fn finish(mut self) -> Result<(), UnwindError> {
        self.stack.close()
    }

    /// Runs the teardown from a `Drop`: errors go to [`report::from_drop`], so they join the
    /// result of a stack that is releasing the struct, or reach the reporter.
    pub fn finish_in_drop(self) {
        if let Err(errors) = self.finish() {
            for error in errors {
                report::from_drop(error);
            }
        }
    }

    /// Runs the teardown of a failed construction, attaching its errors to `error`.
    pub fn rollback<E>(self, error: E) -> RollbackError<E> {
        RollbackError::new(error, self.finish().err())
    }
}

/// A field that has not been acquired (yet): the rollback of a construction skips it.
pub fn empty_field<T>() -> Field<T> {
    Field { value: None }
}
