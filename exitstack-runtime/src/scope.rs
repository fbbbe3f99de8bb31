//! The scope function: run a body with a fresh stack and unwind it with the body's real outcome.

use std::error::Error;
use std::fmt;
use std::io;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe};

use crate::arena::Arena;
use crate::caught::Payload;
use crate::ending::Ending;
use crate::error::UnwindError;
use crate::pending::Pending;
use crate::stack::ExitStack;
use crate::threading::{Local, Sendable, Threading};

/// Why a scope gave no value: the body's error, the cleanup errors left pending, or both; or
/// the body's error that an exit handler suppressed ([`is_suppressed`](ScopeError::is_suppressed):
/// handled, but the body still produced no value). Nothing is dropped on the way: a body error
/// that was suppressed before a later cleanup failed is kept too.
///
/// ```
/// use exitstack::ExitStack;
///
/// let error = ExitStack::scope(|stack| {
///     stack.callback(|| Err::<(), _>("cleanup failed too"));
///     Err::<(), _>(std::fmt::Error)
/// })
/// .unwrap_err();
/// assert!(error.body_error().is_some());
/// assert_eq!(error.cleanup_errors().unwrap().len(), 1);
/// assert!(!error.is_suppressed());
/// ```
pub struct ScopeError<E> {
    body: Option<E>,
    suppressed: Option<E>,
    cleanup: Option<UnwindError>,
}

impl<E> ScopeError<E> {
    /// The body's error, if it returned one that was not suppressed.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let error = ExitStack::scope(|_| Err::<(), _>(std::fmt::Error)).unwrap_err();
    /// assert_eq!(error.body_error(), Some(&std::fmt::Error));
    /// assert!(error.cleanup_errors().is_none());
    /// ```
    pub fn body_error(&self) -> Option<&E> {
        self.body.as_ref()
    }

    /// The body's error that an exit handler suppressed before a later cleanup failed.
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    ///
    /// let error = ExitStack::scope(|stack| {
    ///     stack.callback(|| Err("runs last, fails")); // registered first
    ///     stack.push_exit(|_| Flow::Suppress); // runs first: suppresses the body's error
    ///     Err::<(), _>(std::fmt::Error)
    /// })
    /// .unwrap_err();
    /// assert!(error.body_error().is_none());
    /// assert_eq!(error.suppressed_error(), Some(&std::fmt::Error));
    /// assert_eq!(error.cleanup_errors().unwrap().len(), 1);
    /// ```
    pub fn suppressed_error(&self) -> Option<&E> {
        self.suppressed.as_ref()
    }

    /// The cleanup errors pending at the end, in order.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let error = ExitStack::scope(|stack| {
    ///     stack.callback(|| Err("second"));
    ///     stack.callback(|| Err("first"));
    ///     Ok::<(), std::fmt::Error>(())
    /// })
    /// .unwrap_err();
    /// let messages: Vec<_> = error.cleanup_errors().unwrap().iter().map(|e| e.error().to_string()).collect();
    /// assert_eq!(messages, ["first", "second"]);
    /// ```
    pub fn cleanup_errors(&self) -> Option<&UnwindError> {
        self.cleanup.as_ref()
    }

    /// The parts: body error, suppressed body error, cleanup errors.
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let error = ExitStack::scope(|stack| {
    ///     stack.callback(|| Err("cleanup failed"));
    ///     Err::<(), _>(std::fmt::Error)
    /// })
    /// .unwrap_err();
    /// let (body, suppressed, cleanup) = error.into_parts();
    /// assert_eq!((body, suppressed), (Some(std::fmt::Error), None));
    /// assert_eq!(cleanup.unwrap().first().error().to_string(), "cleanup failed");
    /// ```
    pub fn into_parts(self) -> (Option<E>, Option<E>, Option<UnwindError>) {
        (self.body, self.suppressed, self.cleanup)
    }

    /// Whether the body failed, an exit handler suppressed its error, and nothing failed after:
    /// where Python's `with` would go on after the block. There is still no value to return;
    /// the error is [`suppressed_error`](ScopeError::suppressed_error).
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    /// use std::io;
    ///
    /// let error = ExitStack::scope(|stack| {
    ///     stack.push_exit(|exit| Flow::suppress_if(exit.error().is_some()));
    ///     Err::<u32, _>(io::Error::from(io::ErrorKind::Interrupted))
    /// })
    /// .unwrap_err();
    /// assert!(error.is_suppressed());
    /// assert_eq!(error.suppressed_error().unwrap().kind(), io::ErrorKind::Interrupted);
    /// ```
    pub fn is_suppressed(&self) -> bool {
        self.body.is_none() && self.cleanup.is_none() && self.suppressed.is_some()
    }
}

impl<E: fmt::Debug> fmt::Debug for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeError")
            .field("body", &self.body)
            .field("suppressed", &self.suppressed)
            .field("cleanup", &self.cleanup)
            .finish()
    }
}

impl<E: fmt::Display> fmt::Display for ScopeError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.body, &self.cleanup, &self.suppressed) {
            (Some(body), None, _) => write!(f, "{body}"),
            (Some(body), Some(cleanup), _) => write!(f, "{body}; then {cleanup}"),
            (None, Some(cleanup), _) => write!(f, "{cleanup}"),
            (None, None, Some(suppressed)) => {
                write!(f, "{suppressed} (suppressed by an exit handler)")
            }
            (None, None, None) => f.write_str("scope failed"),
        }
    }
}

impl<E: Error + 'static> Error for ScopeError<E> {
    /// The own source of the error `Display` starts with (the body's, else the cleanups', else
    /// the suppressed one's): `Display` already includes their texts.
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match (&self.body, &self.cleanup, &self.suppressed) {
            (Some(body), _, _) => body.source(),
            (None, Some(cleanup), _) => cleanup.source(),
            (None, None, Some(suppressed)) => suppressed.source(),
            (None, None, None) => None,
        }
    }
}

/// `?` on a scope's error in a function returning `io::Result`, when the body's error is an
/// `io::Error`: the body's error itself when it is all there is (its kind kept); otherwise an
/// error of the body's kind (or `Other`) whose source is the whole scope error, so cleanup
/// errors and a suppressed error are not dropped.
///
/// ```
/// use exitstack::ExitStack;
/// use std::io;
///
/// fn read_config() -> io::Result<u32> {
///     let value = ExitStack::scope(|stack| {
///         stack.callback(|| Err::<(), _>("flush failed"));
///         Err::<u32, _>(io::Error::from(io::ErrorKind::NotFound))
///     })?;
///     Ok(value)
/// }
///
/// let error = read_config().unwrap_err();
/// assert_eq!(error.kind(), io::ErrorKind::NotFound);
/// assert!(error.to_string().contains("flush failed")); // the cleanup's error came along
/// ```
impl From<ScopeError<io::Error>> for io::Error {
    fn from(error: ScopeError<io::Error>) -> io::Error {
        match error.into_parts() {
            (Some(body), None, None) => body,
            (body, suppressed, cleanup) => {
                let kind = body
                    .as_ref()
                    .or(suppressed.as_ref())
                    .map_or(io::ErrorKind::Other, io::Error::kind);
                io::Error::new(
                    kind,
                    ScopeError {
                        body,
                        suppressed,
                        cleanup,
                    },
                )
            }
        }
    }
}

/// The result of a scope function: the body's value, or why there is none.
pub(crate) type ScopeResult<T, E> = Result<T, ScopeError<E>>;

impl<'a> ExitStack<'a, Local> {
    /// Runs `body` with a new stack, then unwinds the stack with the body's real outcome:
    /// exit handlers see the body's error and may suppress it; a panic in the body runs every
    /// entry and is then resumed. Returns the body's value when it and every cleanup succeeded,
    /// else a [`ScopeError`] that keeps every error (`?` converts it into `io::Error`,
    /// `anyhow::Error`, `Box<dyn Error>`, or your error type through `From`).
    ///
    /// # Examples
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    /// use std::io;
    ///
    /// fn length(path: &std::path::Path) -> io::Result<u64> {
    ///     let len = ExitStack::scope(|stack| {
    ///         let file = stack.enter(std::fs::File::open(path)?);
    ///         file.metadata().map(|m| m.len())
    ///     })?; // the value, with one `?`
    ///     Ok(len)
    /// }
    /// assert!(length(std::path::Path::new("/nonexistent/exitstack-doc")).is_err());
    ///
    /// // A suppressed error is still an error (there is no value), and says so.
    /// let error = ExitStack::scope(|stack| {
    ///     stack.push_exit(|exit| {
    ///         let interrupted = exit
    ///             .error()
    ///             .and_then(|e| e.downcast_ref::<io::Error>())
    ///             .is_some_and(|e| e.kind() == io::ErrorKind::Interrupted);
    ///         Flow::suppress_if(interrupted)
    ///     });
    ///     Err::<(), _>(io::Error::from(io::ErrorKind::Interrupted))
    /// })
    /// .unwrap_err();
    /// assert!(error.is_suppressed());
    /// ```
    #[inline]
    pub fn scope<T, E, F>(body: F) -> Result<T, ScopeError<E>>
    where
        F: FnOnce(&ExitStack<'a, Local>) -> Result<T, E>,
        E: Error + 'static,
    {
        run_scope(body)
    }
}

impl<'a> ExitStack<'a, Sendable> {
    /// [`scope`](ExitStack::scope) with a [`SendExitStack`](crate::SendExitStack).
    ///
    /// ```
    /// use exitstack::SendExitStack;
    ///
    /// let value = SendExitStack::scope_send(|stack| {
    ///     stack.callback(|| ());
    ///     Ok::<_, std::fmt::Error>(1)
    /// });
    /// assert_eq!(value.unwrap(), 1);
    /// ```
    #[inline]
    pub fn scope_send<T, E, F>(body: F) -> Result<T, ScopeError<E>>
    where
        F: FnOnce(&ExitStack<'a, Sendable>) -> Result<T, E>,
        E: Error + 'static,
    {
        run_scope(body)
    }
}

/// How a scope body ended, split for the unwind: its value, its error, or its panic. Shared by
/// the sync and async scope functions and the decorator, so all three decide alike.
pub(crate) struct BodyEnd<T, E> {
    pub(crate) value: Option<T>,
    pub(crate) error: Option<E>,
    pub(crate) panic: Option<Payload>,
}

impl<T, E> BodyEnd<T, E> {
    pub(crate) fn new(result: Result<Result<T, E>, Payload>) -> Self {
        match result {
            Ok(Ok(value)) => BodyEnd {
                value: Some(value),
                error: None,
                panic: None,
            },
            Ok(Err(error)) => BodyEnd {
                value: None,
                error: Some(error),
                panic: None,
            },
            Err(panic) => BodyEnd {
                value: None,
                error: None,
                panic: Some(panic),
            },
        }
    }

    /// The ending the stack unwinds with.
    pub(crate) fn ending(&self) -> Ending {
        match (&self.error, &self.panic) {
            (_, Some(_)) => Ending::Panicked,
            (Some(_), None) => Ending::Failed,
            (None, None) => Ending::Succeeded,
        }
    }
}

/// The scope's result once its stack has unwound (a panic was resumed before this point).
#[inline]
pub(crate) fn scope_result<T, E>(
    value: Option<T>,
    error: Option<E>,
    suppressed: bool,
    cleanup: Option<UnwindError>,
) -> ScopeResult<T, E> {
    match (value, cleanup) {
        (Some(value), None) => Ok(value),
        (_, cleanup) => Err(scope_error(error, suppressed, cleanup)),
    }
}

/// The error of a scope that gave no value.
#[cold]
#[inline(never)]
fn scope_error<E>(
    error: Option<E>,
    suppressed: bool,
    cleanup: Option<UnwindError>,
) -> ScopeError<E> {
    let (body, suppressed) = if suppressed {
        (None, error)
    } else {
        (error, None)
    };
    ScopeError {
        body,
        suppressed,
        cleanup,
    }
}

/// Inlined, so that the stack is built in place in the caller's frame: it holds its first
/// entries, and moving it costs a copy of those words.
#[inline]
fn run_scope<'a, S, T, E, F>(body: F) -> ScopeResult<T, E>
where
    S: Threading,
    F: FnOnce(&ExitStack<'a, S>) -> Result<T, E>,
    E: Error + 'static,
{
    let mut stack = ManuallyDrop::new(ExitStack::from_arena(Arena::default()));
    let result = panic::catch_unwind(AssertUnwindSafe(|| body(&stack)));
    // SAFETY: `stack` is not used again.
    unsafe {
        unwind_scope(&mut stack, result, |error| {
            Some(error as &(dyn Error + 'static))
        })
    }
}

/// Unwinds a sync scope's stack with its body's outcome, drops it, and builds the scope's
/// result: the one protocol of `ExitStack::scope` and `#[with_stack]` (the async scope drives
/// the same `Pending` through its own loop, and ends in `scope_result` too). `view` shows the
/// body's error to exit handlers.
///
/// The stack is borrowed, not moved (moving a stack copies its inline words), and dropped here
/// only if the unwind left it owning memory: a stack that stayed small is then dropped with no
/// test at all. It is dropped before the unwind ends, which may resume the body's panic.
///
/// Safety: the caller does not use `stack` again.
#[inline]
pub(crate) unsafe fn unwind_scope<'a, S, T, E, V>(
    stack: &mut ManuallyDrop<ExitStack<'a, S>>,
    result: Result<Result<T, E>, Payload>,
    view: V,
) -> ScopeResult<T, E>
where
    S: Threading,
    V: for<'e> Fn(&'e E) -> Option<&'e (dyn Error + 'static)>,
{
    let end = BodyEnd::new(result);
    let ending = end.ending();
    let BodyEnd {
        value,
        error,
        panic,
    } = end;
    let (suppressed, cleanup) = {
        let scope_error = error.as_ref().and_then(&view);
        let mut pending = Pending::for_scope(ending, scope_error.is_some(), panic);
        if !stack.unwind(&mut pending, scope_error) {
            // SAFETY: dropped once, here; the caller does not use the stack again. A pristine
            // stack is left undropped: its drop would do nothing (it owns no memory).
            unsafe { ManuallyDrop::drop(stack) };
        }
        (pending.suppressed(), pending.finish(scope_error).err())
    };
    scope_result(value, error, suppressed, cleanup)
}
