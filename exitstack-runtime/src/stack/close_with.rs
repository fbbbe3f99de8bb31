//! [`ExitStack::close_with`]: closing a stack as a scope that failed with a given error.

use std::error::Error;

use super::ExitStack;
use crate::ending::Ending;
use crate::pending::Pending;
use crate::scope::{scope_result, ScopeError};
use crate::threading::Threading;

impl<'a, S: Threading> ExitStack<'a, S> {
    /// Runs every entry as at the end of a [`scope`](ExitStack::scope) whose body failed with
    /// `error`: exit handlers see it ([`Exit::error`](crate::Exit::error),
    /// [`Exit::is_scope_error`](crate::Exit::is_scope_error)) and may suppress it, error-only
    /// entries run, the ending is [`Failed`](crate::Ending::Failed). The stack is left empty and
    /// usable.
    ///
    /// Returns what the scope would have: a [`ScopeError`] that holds `error` (or, when a handler
    /// suppressed it, [`is_suppressed`](ScopeError::is_suppressed) is true and it is the
    /// [`suppressed_error`](ScopeError::suppressed_error)), with every cleanup error. It is
    /// returned as it is, not in a `Result`: closing with an error never succeeds.
    ///
    /// Python's `ExitStack` has no `close(exc)` (it was declined in cpython#137732: call
    /// `__exit__` yourself). Here a caller that decided to abort with a reason (a failed
    /// validation, a shutdown signal) often holds a stack built outside a scope, and its
    /// rollbacks and handlers need that reason; `close` would tell them all went well.
    ///
    /// # Examples
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    /// use std::cell::RefCell;
    /// use std::io;
    ///
    /// let log = RefCell::new(Vec::new());
    /// let mut stack = ExitStack::new();
    /// stack.callback_on_error(|| log.borrow_mut().push("rolled back".to_owned()));
    /// stack.push_exit(|exit| {
    ///     log.borrow_mut().push(format!("saw: {}", exit.error().unwrap()));
    ///     Flow::Propagate
    /// });
    /// let error = stack.close_with(io::Error::other("validation failed"));
    /// assert_eq!(error.body_error().unwrap().to_string(), "validation failed");
    /// assert_eq!(*log.borrow(), ["saw: validation failed", "rolled back"]);
    ///
    /// // A handler that suppresses the reason: the error says so.
    /// stack.push_exit(|exit| Flow::suppress_if(exit.is_scope_error()));
    /// assert!(stack.close_with(io::Error::other("expected")).is_suppressed());
    /// ```
    #[must_use = "the error says whether a handler suppressed it, and holds the cleanup errors"]
    pub fn close_with<E>(&mut self, error: E) -> ScopeError<E>
    where
        E: Error + 'static,
    {
        let (suppressed, cleanup) = {
            let shown: &(dyn Error + 'static) = &error;
            let mut pending = Pending::for_scope(Ending::Failed, true, None);
            self.unwind(&mut pending, Some(shown));
            (pending.suppressed(), pending.finish(Some(shown)).err())
        };
        closed_with(error, suppressed, cleanup)
    }
}

/// The [`ScopeError`] of a stack closed with `error` (sync or async).
pub(crate) fn closed_with<E>(
    error: E,
    suppressed: bool,
    cleanup: Option<crate::error::UnwindError>,
) -> ScopeError<E> {
    match scope_result::<(), E>(None, Some(error), suppressed, cleanup) {
        Err(error) => error,
        Ok(()) => unreachable!("a scope without a value is an error"),
    }
}
