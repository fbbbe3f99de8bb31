//! The error types: one failed cleanup ([`CleanupError`]) and every failure of one unwind
//! ([`UnwindError`]).
//!
//! One rule for every error type of the crate that wraps another ([`CleanupError`],
//! [`UnwindError`], [`ScopeError`](crate::ScopeError), [`RollbackError`](crate::RollbackError)):
//! its `Display` includes the wrapped error's text, so its `source()` is not that error but the
//! wrapped error's own `source()`. A chain (`anyhow`'s `{:#}`, `.chain()`) then prints each text
//! once. The wrapped error itself is reached through the type's own accessors
//! ([`CleanupError::error`], [`CleanupError::downcast_ref`], [`UnwindError::iter`], ..).

use std::any::Any;
use std::borrow::Cow;
use std::error::Error;
use std::fmt;
use std::panic::Location;

use crate::caught;

/// A boxed error as cleanups return it: any `std::error::Error` that may cross threads.
///
/// ```
/// use exitstack::{BoxError, ExitStack};
///
/// let mut stack = ExitStack::new();
/// // Cleanups returning different error types can share one signature.
/// stack.callback(|| -> Result<(), BoxError> { Err("a message".into()) });
/// stack.callback(|| -> Result<(), BoxError> { Err(Box::new(std::fmt::Error)) });
/// assert_eq!(stack.close().unwrap_err().len(), 2);
/// ```
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// One cleanup that failed: its error, its label and the place it was registered.
///
/// `Display` reads ``cleanup `label` failed: {error}``; `source()` is the error's own source (the
/// error's text is already in `Display`, so a chain such as `anyhow`'s `{:#}` prints it once).
///
/// # Examples
///
/// ```
/// use exitstack::ExitStack;
///
/// let mut stack = ExitStack::new();
/// stack.callback(|| Err("disk full")).label("flush log");
/// let errors = stack.close().unwrap_err();
/// let first = errors.iter().next().unwrap();
/// assert_eq!(first.label(), Some("flush log"));
/// assert_eq!(first.error().to_string(), "disk full");
/// assert!(first.location().unwrap().file().ends_with(".rs"));
/// ```
pub struct CleanupError {
    error: BoxError,
    label: Option<Cow<'static, str>>,
    location: Option<&'static Location<'static>>,
    /// The nodes of the error tree that hold this leaf, outermost first (see `error_tree`).
    pub(crate) path: Vec<std::sync::Arc<crate::error_tree::Frame>>,
}

impl CleanupError {
    /// Wraps an error that a cleanup returned.
    ///
    /// A [`CleanupError`], or an [`UnwindError`] of one, is taken as it is rather than wrapped
    /// again, so a message never reads `cleanup failed: cleanup failed: ..`.
    ///
    /// ```
    /// use exitstack::CleanupError;
    ///
    /// let error = CleanupError::new("broken pipe").with_label("flush");
    /// assert_eq!(error.to_string(), "cleanup `flush` failed: broken pipe");
    /// let again = CleanupError::new(error);
    /// assert_eq!(again.to_string(), "cleanup `flush` failed: broken pipe");
    /// ```
    pub fn new(error: impl Into<BoxError>) -> Self {
        let error = match error.into().downcast::<CleanupError>() {
            Ok(one) => return *one,
            Err(error) => error,
        };
        let error = match error.downcast::<UnwindError>() {
            Ok(many) if many.len() == 1 => {
                return many.into_vec().pop().expect("one error");
            }
            Ok(many) => many as BoxError,
            Err(error) => error,
        };
        CleanupError {
            error,
            label: None,
            location: None,
            path: Vec::new(),
        }
    }

    /// Records a panic of a cleanup as an error (used when a panic cannot be resumed).
    pub(crate) fn from_panic(payload: &(dyn Any + Send)) -> Self {
        CleanupError::new(PanicError::from_payload(payload))
    }

    /// Sets the label that names the cleanup in reports.
    ///
    /// ```
    /// use exitstack::CleanupError;
    ///
    /// let error = CleanupError::new("timed out").with_label("disconnect");
    /// assert_eq!(error.label(), Some("disconnect"));
    /// assert_eq!(error.to_string(), "cleanup `disconnect` failed: timed out");
    /// ```
    #[must_use]
    pub fn with_label(mut self, label: impl Into<Cow<'static, str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the place where the cleanup was registered.
    ///
    /// ```
    /// use exitstack::CleanupError;
    /// use std::panic::Location;
    ///
    /// let here = Location::caller();
    /// let error = CleanupError::new("timed out").with_location(here);
    /// assert_eq!(error.location(), Some(here));
    /// assert!(format!("{error:#}").contains(&format!("registered at {here}")));
    /// ```
    #[must_use]
    pub fn with_location(mut self, location: &'static Location<'static>) -> Self {
        self.location = Some(location);
        self
    }

    pub(crate) fn set_site(
        &mut self,
        label: Option<Cow<'static, str>>,
        location: &'static Location<'static>,
    ) {
        if self.label.is_none() {
            self.label = label;
        }
        self.location.get_or_insert(location);
    }

    /// The label given at registration, if any.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("unlabelled"));
    /// stack.callback(|| Err("labelled")).label("named");
    /// let errors = stack.close().unwrap_err();
    /// let labels: Vec<_> = errors.iter().map(|e| e.label()).collect();
    /// assert_eq!(labels, [Some("named"), None]);
    /// ```
    pub fn label(&self) -> Option<&str> {
        self.label.as_deref()
    }

    /// Where the failed cleanup was registered, if known.
    ///
    /// ```
    /// use exitstack::{CleanupError, ExitStack};
    ///
    /// assert!(CleanupError::new("built by hand").location().is_none());
    /// let mut stack = ExitStack::new();
    /// let line = line!() + 1;
    /// stack.callback(|| Err("registered here"));
    /// let errors = stack.close().unwrap_err();
    /// assert_eq!(errors.first().location().unwrap().line(), line);
    /// ```
    pub fn location(&self) -> Option<&'static Location<'static>> {
        self.location
    }

    /// The error the cleanup returned.
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::io;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err(io::Error::other("no space left")));
    /// let errors = stack.close().unwrap_err();
    /// assert_eq!(errors.first().error().to_string(), "no space left");
    /// assert!(errors.first().error().is::<io::Error>());
    /// ```
    pub fn error(&self) -> &(dyn Error + Send + Sync + 'static) {
        &*self.error
    }

    /// Whether this records a panic (see [`PanicError`]) rather than a returned error.
    ///
    /// ```
    /// use exitstack::{report, ExitStack};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let panics = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&panics);
    /// report::with_reporter(
    ///     move |report: &report::Report<'_>| sink.lock().unwrap().push(report.error().is_panic()),
    ///     || {
    ///         let result = std::panic::catch_unwind(|| {
    ///             let stack = ExitStack::new();
    ///             stack.callback(|| panic!("cleanup panics too"));
    ///             panic!("the body panics"); // drops the stack while panicking
    ///         });
    ///         assert!(result.is_err());
    ///     },
    /// );
    /// assert_eq!(*panics.lock().unwrap(), [true]);
    /// assert!(!exitstack::CleanupError::new("returned").is_panic());
    /// ```
    pub fn is_panic(&self) -> bool {
        self.error.is::<PanicError>()
    }

    /// Takes the error out, dropping the label and location.
    ///
    /// ```
    /// use exitstack::CleanupError;
    /// use std::io;
    ///
    /// let error = CleanupError::new(io::Error::from(io::ErrorKind::NotFound)).with_label("rm");
    /// let inner = error.into_error().downcast::<io::Error>().unwrap();
    /// assert_eq!(inner.kind(), io::ErrorKind::NotFound);
    /// ```
    pub fn into_error(self) -> BoxError {
        self.error
    }
}

impl fmt::Debug for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CleanupError")
            .field("error", &self.error)
            .field("label", &self.label)
            .field("location", &self.location.map(ToString::to_string))
            .finish()
    }
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.label {
            Some(label) => write!(f, "cleanup `{label}`")?,
            None => f.write_str("cleanup")?,
        }
        if f.alternate() {
            if let Some(location) = self.location {
                write!(f, " (registered at {location})")?;
            }
        }
        write!(f, " failed: {}", self.error)
    }
}

impl Error for CleanupError {
    /// The error's own source: `Display` already includes the error's text.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error.source()
    }
}

/// The message of a cleanup that panicked, kept as an error when the panic could not be
/// resumed (the stack was dropped during another panic).
///
/// # Examples
///
/// ```
/// use exitstack::{report, ExitStack, PanicError};
/// use std::sync::{Arc, Mutex};
///
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&seen);
/// report::with_reporter(
///     move |report: &report::Report<'_>| {
///         let panic: &PanicError = report.error().error().downcast_ref().unwrap();
///         sink.lock().unwrap().push(panic.to_string());
///     },
///     || {
///         let _ = std::panic::catch_unwind(|| {
///             let stack = ExitStack::new();
///             stack.callback(|| panic!("second panic"));
///             panic!("first panic"); // the stack drops, its cleanup panics: caught, reported
///         });
///     },
/// );
/// assert_eq!(*seen.lock().unwrap(), ["panicked: second panic"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PanicError {
    message: String,
}

impl PanicError {
    pub(crate) fn from_payload(payload: &(dyn Any + Send)) -> Self {
        let message = if let Some(text) = payload.downcast_ref::<&'static str>() {
            (*text).to_owned()
        } else if let Some(text) = payload.downcast_ref::<String>() {
            text.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        PanicError { message }
    }

    /// The panic message.
    ///
    /// A cleanup that panics while the thread is already panicking is caught, and its panic is
    /// reported as a [`PanicError`]:
    ///
    /// ```
    /// use exitstack::{report, ExitStack, PanicError};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let messages = Arc::new(Mutex::new(Vec::new()));
    /// let sink = Arc::clone(&messages);
    /// report::with_reporter(
    ///     move |report: &report::Report<'_>| {
    ///         let panic = report.error().error().downcast_ref::<PanicError>().unwrap();
    ///         sink.lock().unwrap().push(panic.message().to_owned());
    ///     },
    ///     || {
    ///         let result = std::panic::catch_unwind(|| {
    ///             let stack = ExitStack::new();
    ///             stack.callback(|| panic!("cleanup panics too"));
    ///             panic!("the body panics"); // drops the stack while panicking
    ///         });
    ///         assert!(result.is_err());
    ///     },
    /// );
    /// assert_eq!(*messages.lock().unwrap(), ["cleanup panics too"]);
    /// ```
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PanicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "panicked: {}", self.message)
    }
}

impl Error for PanicError {}

/// Every error of one unwind, in the order the cleanups failed. Never empty.
///
/// Iterate it to see each [`CleanupError`]. `Display` shows every one (just the one when there is
/// one), so `source()` is the first one's own `source()`, never a text `Display` already shows.
/// The list is flat, so a million failures drop without recursion.
///
/// # Examples
///
/// ```
/// use exitstack::ExitStack;
///
/// let mut stack = ExitStack::new();
/// stack.callback(|| Err("first registered, fails last"));
/// stack.callback(|| Err("last registered, fails first"));
/// let errors = stack.close().unwrap_err();
/// let messages: Vec<String> = errors.iter().map(|e| e.error().to_string()).collect();
/// assert_eq!(messages, ["last registered, fails first", "first registered, fails last"]);
/// ```
pub struct UnwindError {
    /// Boxed so that the error is one word: `Result<(), UnwindError>` (what `close` and
    /// `#[with_stack]` functions return) then travels in a register. Never empty. (The second
    /// allocation is made only when something failed.)
    #[allow(clippy::box_collection)]
    errors: Box<Vec<CleanupError>>,
}

impl UnwindError {
    /// Builds the error from a list; `None` when the list is empty.
    ///
    /// ```
    /// use exitstack::{CleanupError, UnwindError};
    ///
    /// assert!(UnwindError::from_errors(Vec::new()).is_none());
    /// let one = UnwindError::from_errors(vec![CleanupError::new("x")]).unwrap();
    /// assert_eq!(one.len(), 1);
    /// ```
    pub fn from_errors(errors: Vec<CleanupError>) -> Option<Self> {
        if errors.is_empty() {
            None
        } else {
            Some(UnwindError {
                errors: Box::new(errors),
            })
        }
    }

    /// How many cleanups failed (at least one).
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("one"));
    /// stack.callback(|| {}); // succeeds: not counted
    /// stack.callback(|| Err("two"));
    /// assert_eq!(stack.close().unwrap_err().len(), 2);
    /// ```
    #[allow(clippy::len_without_is_empty)] // never empty by construction
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// The failures, in the order they happened.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("a")).label("first in");
    /// stack.callback(|| Err("b")).label("last in");
    /// let errors = stack.close().unwrap_err();
    /// let labels: Vec<_> = errors.iter().filter_map(|e| e.label()).collect();
    /// assert_eq!(labels, ["last in", "first in"]); // last in, first out
    /// ```
    pub fn iter(&self) -> std::slice::Iter<'_, CleanupError> {
        self.errors.iter()
    }

    /// The first failure.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("runs second"));
    /// stack.callback(|| Err("runs first"));
    /// let errors = stack.close().unwrap_err();
    /// assert_eq!(errors.first().error().to_string(), "runs first");
    /// ```
    pub fn first(&self) -> &CleanupError {
        &self.errors[0]
    }

    /// The failures as a slice, in the order they happened: for slice patterns and indexing.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err::<(), _>("older"));
    /// stack.callback(|| Err::<(), _>("newer"));
    /// let errors = stack.close().unwrap_err();
    /// let [first, second] = errors.as_slice() else { unreachable!() };
    /// assert_eq!((first.error().to_string(), second.error().to_string()), ("newer".into(), "older".into()));
    /// ```
    pub fn as_slice(&self) -> &[CleanupError] {
        &self.errors
    }

    /// The failures as a vector.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("a"));
    /// stack.callback(|| Err("b"));
    /// let errors: Vec<String> = stack.close().unwrap_err().into_vec().into_iter()
    ///     .map(|e| e.into_error().to_string())
    ///     .collect();
    /// assert_eq!(errors, ["b", "a"]);
    /// ```
    pub fn into_vec(mut self) -> Vec<CleanupError> {
        std::mem::take(&mut *self.errors)
    }
}

impl Drop for UnwindError {
    /// Drops the errors one by one: an error whose `Drop` panics must not leave the others to
    /// be dropped while that panic unwinds (a second panic there aborts). The first such panic
    /// goes on once all are dropped, or is reported if the thread is already panicking.
    fn drop(&mut self) {
        if !self.errors.is_empty() {
            if let Some(payload) = caught::drop_all(std::mem::take(&mut *self.errors)) {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

impl fmt::Debug for UnwindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.errors.iter()).finish()
    }
}

impl fmt::Display for UnwindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.errors.len() == 1 {
            return fmt::Display::fmt(&self.errors[0], f);
        }
        write!(f, "{} cleanups failed", self.errors.len())?;
        for (index, error) in self.errors.iter().enumerate() {
            write!(f, "\n  {}: ", index + 1)?;
            fmt::Display::fmt(error, f)?;
        }
        Ok(())
    }
}

impl Error for UnwindError {
    /// The first failure's own source: `Display` already includes every failure's text.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.errors[0].source()
    }
}

impl IntoIterator for UnwindError {
    type Item = CleanupError;
    type IntoIter = std::vec::IntoIter<CleanupError>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl<'e> IntoIterator for &'e UnwindError {
    type Item = &'e CleanupError;
    type IntoIter = std::slice::Iter<'e, CleanupError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}
