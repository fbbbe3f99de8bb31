//! Support for the macros: the field wrapper of `#[managed]` structs ([`ManagedField`]), the
//! error of a rolled-back construction ([`RollbackError`]), and the hidden helpers generated code
//! calls.
//!
//! Field teardown reuses the stack's unwind state and rules (see [`Running`]), so a panicking
//! closer never stops the others and nothing aborts during a panic.

use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{self, AssertUnwindSafe, Location};

use crate::ending::Ending;
use crate::error::{BoxError, UnwindError};
use crate::output::CleanupOutput;
use crate::pending::Pending;
use crate::report;
use crate::site::Site;

/// A field of a [`#[managed]`](crate::managed) struct: the value, which derefs to `T`, held so
/// that the generated teardown can move it out and pass it to its closer by value.
///
/// Build it with `ManagedField::new(value)` or `value.into()`; use it like the value itself.
///
/// ```
/// use exitstack::ManagedField;
///
/// let mut names: ManagedField<Vec<&str>> = Vec::new().into();
/// names.push("used through DerefMut");
/// assert_eq!(names.len(), 1);
/// assert_eq!(names.into_inner(), ["used through DerefMut"]);
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ManagedField<T> {
    /// `None` only once the teardown has taken the value, after which nobody can reach it.
    pub(crate) value: Option<T>,
}

impl<T> ManagedField<T> {
    /// Wraps a value.
    ///
    /// ```
    /// let answer = exitstack::ManagedField::new(42);
    /// assert_eq!(*answer, 42);
    /// ```
    pub const fn new(value: T) -> Self {
        ManagedField { value: Some(value) }
    }

    /// Takes the value out; it will not be torn down by the struct.
    ///
    /// ```
    /// let name = exitstack::ManagedField::new(String::from("kept"));
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

/// A field holding `T::default()` (so `#[derive(Default)]` works on a `#[managed]` struct).
///
/// ```
/// let count: exitstack::ManagedField<u32> = Default::default();
/// assert_eq!(*count, 0);
/// ```
impl<T: Default> Default for ManagedField<T> {
    fn default() -> Self {
        ManagedField::new(T::default())
    }
}

impl<T> From<T> for ManagedField<T> {
    fn from(value: T) -> Self {
        ManagedField::new(value)
    }
}

impl<T> Deref for ManagedField<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value.as_ref().unwrap_or_else(|| taken())
    }
}

impl<T> DerefMut for ManagedField<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value.as_mut().unwrap_or_else(|| taken())
    }
}

impl<T: fmt::Debug> fmt::Debug for ManagedField<T> {
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
    ///
    /// ```
    /// use exitstack::{CleanupError, RollbackError, UnwindError};
    ///
    /// let teardown = UnwindError::from_errors(vec![CleanupError::new("close failed")]);
    /// let error = RollbackError::new("open failed", teardown);
    /// assert_eq!(*error.error(), "open failed");
    /// assert_eq!(error.teardown_errors().unwrap().len(), 1);
    /// ```
    pub fn new(error: E, teardown: Option<UnwindError>) -> Self {
        RollbackError { error, teardown }
    }

    /// The error of the acquisition that failed.
    ///
    /// ```
    /// use exitstack::RollbackError;
    /// use std::io;
    ///
    /// let error = RollbackError::new(io::Error::from(io::ErrorKind::NotFound), None);
    /// assert_eq!(error.error().kind(), io::ErrorKind::NotFound);
    /// ```
    pub fn error(&self) -> &E {
        &self.error
    }

    /// The errors of tearing down what had been acquired, in teardown order.
    ///
    /// ```
    /// use exitstack::{CleanupError, RollbackError, UnwindError};
    ///
    /// let failures = vec![CleanupError::new("second field"), CleanupError::new("first field")];
    /// let error = RollbackError::new("third field failed", UnwindError::from_errors(failures));
    /// let order: Vec<_> = error.teardown_errors().unwrap().iter().map(|e| e.to_string()).collect();
    /// assert_eq!(order, ["cleanup failed: second field", "cleanup failed: first field"]);
    /// ```
    pub fn teardown_errors(&self) -> Option<&UnwindError> {
        self.teardown.as_ref()
    }

    /// The acquisition error, dropping the teardown errors.
    ///
    /// ```
    /// use exitstack::{CleanupError, RollbackError, UnwindError};
    ///
    /// let teardown = UnwindError::from_errors(vec![CleanupError::new("close failed")]);
    /// let error: &str = RollbackError::new("open failed", teardown).into_error();
    /// assert_eq!(error, "open failed");
    /// ```
    pub fn into_error(self) -> E {
        self.error
    }

    /// Both parts.
    ///
    /// ```
    /// use exitstack::{CleanupError, RollbackError, UnwindError};
    ///
    /// let teardown = UnwindError::from_errors(vec![CleanupError::new("close failed")]);
    /// let (error, teardown) = RollbackError::new("open failed", teardown).into_parts();
    /// assert_eq!(error, "open failed");
    /// assert_eq!(teardown.unwrap().first().error().to_string(), "close failed");
    /// ```
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

/// The acquisition's error (`{:#}`, so an `anyhow::Error` prints its whole context chain), and
/// whether rolling back failed too; the rollback's errors are the [`source`](Error::source).
impl<E: fmt::Display> fmt::Display for RollbackError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.error)?;
        if self.teardown.is_some() {
            f.write_str("; then rolling back failed")?;
        }
        Ok(())
    }
}

/// An `Error` whatever the acquisition's error type (`anyhow::Error`, a `String`, a `std`
/// error), so that `?` converts it into `anyhow::Error` or `Box<dyn Error>`. The source is the
/// rollback's [`UnwindError`]; the acquisition error's own chain is reached through
/// [`error`](RollbackError::error), as the type cannot know it is an `Error` itself.
///
/// ```
/// use exitstack::{CleanupError, RollbackError, UnwindError};
///
/// fn start() -> anyhow::Result<()> {
///     let cause = anyhow::anyhow!("connection refused").context("opening the database");
///     let teardown = UnwindError::from_errors(vec![CleanupError::new("cache flush failed")]);
///     Err(RollbackError::new(cause, teardown))?
/// }
/// let error = start().unwrap_err();
/// assert_eq!(
///     format!("{error:#}"),
///     "opening the database: connection refused; then rolling back failed: \
///      cleanup failed: cache flush failed",
/// );
/// ```
impl<E: fmt::Debug + fmt::Display> Error for RollbackError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.teardown
            .as_ref()
            .map(|teardown| teardown as &(dyn Error + 'static))
    }
}

/// A teardown in progress: the fields are released one by one, in teardown order, into the
/// stack's own pending outcome (`Pending`), which applies the stack's rules: a panicking closer
/// never stops the others, the first panic is resumed at the end (or, during a panic, reported),
/// and errors are kept in order with their labels. Nothing is allocated unless a field fails.
pub struct Running {
    pending: Pending,
}

impl Running {
    /// Releases a field through `closer`, now. A taken field is skipped.
    #[track_caller]
    pub fn close<T, R, F>(&mut self, field: &mut ManagedField<T>, label: &'static str, closer: F)
    where
        F: FnOnce(T) -> R,
        R: CleanupOutput,
    {
        if let Some(value) = field.value.take() {
            self.run(label, Location::caller(), || closer(value).into_result());
        }
    }

    /// Releases a field by dropping it, now; errors its `Drop` hands to [`report::error_in_drop`]
    /// (a nested managed struct) join the teardown's result.
    #[track_caller]
    pub fn drop<T>(&mut self, field: &mut ManagedField<T>, label: &'static str) {
        if let Some(value) = field.value.take() {
            self.run(label, Location::caller(), || {
                report::drop_collecting(value).map_err(BoxError::from)
            });
        }
    }

    fn run(
        &mut self,
        label: &'static str,
        location: &'static Location<'static>,
        release: impl FnOnce() -> Result<(), BoxError>,
    ) {
        let site = || {
            let mut site = Site::new(location);
            site.set_label(Cow::Borrowed(label));
            site
        };
        #[cfg(feature = "tracing")]
        let timer = crate::trace::start(self.pending.ending());
        let released = panic::catch_unwind(AssertUnwindSafe(release));
        #[cfg(feature = "tracing")]
        crate::trace::field_ran(timer, label, location, &released);
        match released {
            Ok(Ok(())) => {}
            Ok(Err(error)) => self.pending.record_error(error, site()),
            Err(payload) => self.pending.record_panic(payload, Some(&site())),
        }
    }
}

/// Runs a teardown: `release` releases each field on the [`Running`] it is given, in teardown
/// order; returns every error, in that order. A closer's panic is resumed once all have run.
pub fn teardown(release: impl FnOnce(&mut Running)) -> Result<(), UnwindError> {
    run_teardown(Ending::Succeeded, None, release)
}

/// A teardown with the given ending and, for a rollback after a panic, that panic pending.
fn run_teardown(
    ending: Ending,
    panic: Option<Box<dyn std::any::Any + Send>>,
    release: impl FnOnce(&mut Running),
) -> Result<(), UnwindError> {
    let mut running = Running {
        pending: Pending::for_scope(ending, false, panic),
    };
    release(&mut running);
    running.pending.finish(None)
}

/// [`teardown`] from a `Drop`: errors go to [`report::error_in_drop`], so they join the result of a
/// stack that is releasing the struct, or reach the reporter.
pub fn teardown_in_drop(release: impl FnOnce(&mut Running)) {
    if let Err(errors) = teardown(release) {
        report::errors_in_drop(errors.into_vec());
    }
}

/// [`teardown`] of a failed construction, attaching its errors to the acquisition's `error`.
pub fn rollback<E>(error: E, release: impl FnOnce(&mut Running)) -> RollbackError<E> {
    RollbackError::new(error, teardown(release).err())
}

/// [`teardown`] of a construction whose acquisition panicked, then the panic goes on: a panic
/// is a failed acquisition too, and what was acquired must not be dropped without its closer.
/// The acquisition's panic stays first: closers that panic as well, and teardown errors, go to
/// the report channel.
pub fn rollback_panicked(
    payload: Box<dyn std::any::Any + Send>,
    release: impl FnOnce(&mut Running),
) -> ! {
    let _ = run_teardown(Ending::Panicked, Some(payload), release); // resumes the panic
    unreachable!("an unwind that holds a panic resumes it")
}
