//! What an exit handler sees: [`Exit`].

use std::error::Error;
use std::fmt;

use crate::ending::Ending;
use crate::pending::Pending;

/// The state an exit handler sees when it runs: the pending errors, whether a panic is in
/// flight, and how the scope ended.
///
/// # Examples
///
/// ```
/// use exitstack::{ExitStack, Flow};
/// use std::io;
///
/// let mut stack = ExitStack::new();
/// // Suppress a broken pipe on shutdown, let everything else through.
/// stack.push_exit(|exit| {
///     let broken_pipe = exit
///         .error()
///         .and_then(|e| e.downcast_ref::<io::Error>())
///         .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe);
///     Flow::suppress_if(broken_pipe)
/// });
/// stack.callback(|| Err(io::Error::from(io::ErrorKind::BrokenPipe)));
/// assert!(stack.close().is_ok());
/// ```
pub struct Exit<'p> {
    pending: &'p Pending,
    /// The scope's own error, while it is pending (not suppressed).
    scope_error: Option<&'p (dyn Error + 'static)>,
}

impl<'p> Exit<'p> {
    /// What an exit handler sees of `pending`: with the scope's error if it is still pending.
    #[inline]
    pub(crate) fn view(
        pending: &'p Pending,
        scope_error: Option<&'p (dyn Error + 'static)>,
    ) -> Self {
        Exit {
            pending,
            scope_error: scope_error.filter(|_| pending.scope_error_pending()),
        }
    }

    /// Runs `f` with what a cleanup sees when it runs outside any stack's unwind (a value let go
    /// by hand, or dropped): nothing pending, and `ending`.
    pub(crate) fn outside<R>(ending: Ending, f: impl FnOnce(&Exit<'_>) -> R) -> R {
        let pending = Pending::new(ending);
        f(&Exit::view(&pending, None))
    }

    /// The latest pending error: the last cleanup error of this unwind, or else the scope's own
    /// error; `None` when nothing is pending.
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    /// use std::cell::RefCell;
    ///
    /// let seen = RefCell::new(Vec::new());
    /// let mut stack = ExitStack::new();
    /// stack.push_exit(|exit| {
    ///     seen.borrow_mut().push(exit.error().map(|e| e.to_string()));
    ///     Flow::Propagate
    /// });
    /// stack.callback(|| Err("disk full"));
    /// stack.push_exit(|exit| {
    ///     seen.borrow_mut().push(exit.error().map(|e| e.to_string()));
    ///     Flow::Propagate
    /// });
    /// assert!(stack.close().is_err());
    /// assert_eq!(*seen.borrow(), [None, Some("disk full".to_owned())]);
    /// ```
    pub fn error(&self) -> Option<&(dyn Error + 'static)> {
        match self.pending.errors().last() {
            Some(error) => Some(error.error()),
            None => self.scope_error,
        }
    }

    /// Every pending error, oldest first: the scope's own error, then each cleanup error since
    /// the last suppression.
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    /// use std::cell::RefCell;
    ///
    /// let seen = RefCell::new(Vec::new());
    /// let result = ExitStack::scope(|stack| {
    ///     stack.push_exit(|exit| {
    ///         seen.borrow_mut().extend(exit.errors().map(|e| e.to_string()));
    ///         Flow::Propagate
    ///     });
    ///     stack.callback(|| Err("cleanup failed"));
    ///     Err::<(), _>(std::fmt::Error)
    /// });
    /// assert!(result.is_err());
    /// assert_eq!(*seen.borrow(), ["an error occurred when formatting an argument", "cleanup failed"]);
    /// ```
    pub fn errors(&self) -> impl Iterator<Item = &(dyn Error + 'static)> + '_ {
        let cleanup = self
            .pending
            .errors()
            .iter()
            .map(|error| error.error() as &(dyn Error + 'static));
        self.scope_error.into_iter().chain(cleanup)
    }

    /// Whether the pending error is the scope's own (no cleanup has failed since).
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    ///
    /// // Suppress the body's own error, but not a cleanup's.
    /// let error = ExitStack::scope(|stack| {
    ///     stack.push_exit(|exit| Flow::suppress_if(exit.is_scope_error()));
    ///     Err::<(), _>(std::fmt::Error)
    /// })
    /// .unwrap_err();
    /// assert!(error.is_suppressed());
    /// ```
    pub fn is_scope_error(&self) -> bool {
        self.pending.errors().is_empty() && self.scope_error.is_some()
    }

    /// Whether a panic is in flight: the scope's body panicked, an earlier entry panicked, or
    /// the stack is being dropped during a panic. It cannot be suppressed.
    ///
    /// ```
    /// use exitstack::{ExitStack, Flow};
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// static SAW_PANIC: AtomicBool = AtomicBool::new(false);
    /// let result = std::panic::catch_unwind(|| {
    ///     ExitStack::scope(|stack| {
    ///         stack.push_exit(|exit| {
    ///             SAW_PANIC.store(exit.is_panicking(), Ordering::SeqCst);
    ///             Flow::Suppress // has no effect on a panic
    ///         });
    ///         panic!("body panics");
    ///         #[allow(unreachable_code)]
    ///         Ok::<(), std::fmt::Error>(())
    ///     })
    /// });
    /// assert!(result.is_err());
    /// assert!(SAW_PANIC.load(Ordering::SeqCst));
    /// ```
    pub fn is_panicking(&self) -> bool {
        self.pending.is_panicking()
    }

    /// How the scope ended.
    ///
    /// ```
    /// use exitstack::{Ending, ExitStack, Flow};
    /// use std::cell::Cell;
    ///
    /// let ending = Cell::new(None);
    /// let _ = ExitStack::scope(|stack| {
    ///     stack.push_exit(|exit| {
    ///         ending.set(Some(exit.ending()));
    ///         Flow::Propagate
    ///     });
    ///     Err::<(), _>(std::fmt::Error)
    /// });
    /// assert_eq!(ending.get(), Some(Ending::Failed));
    /// ```
    pub fn ending(&self) -> Ending {
        self.pending.ending()
    }
}

impl fmt::Debug for Exit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exit")
            .field("ending", &self.ending())
            .field("error", &self.error().map(ToString::to_string))
            .field("panicking", &self.is_panicking())
            .finish()
    }
}
