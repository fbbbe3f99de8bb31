//! The outcome of an unwind while it is under way: how the scope ended, whether its own error
//! is still pending, the cleanup errors since the last suppression, and the first panic.
//!
//! It owns no arena and no stack, so every place that releases entries (the sync and async
//! loops, a handle run now, a `#[managed]` teardown, an arena discarding what was cancelled)
//! records into one and ends it the same way. The scope's own error is borrowed from its
//! scope, so it is passed in where it is read (`Exit::view`, [`Pending::finish`]).

use std::error::Error;
use std::panic;

use crate::caught::{self, Payload};
use crate::ending::Ending;
use crate::error::{BoxError, CleanupError, UnwindError};
use crate::report::{self, ReportReason};
use crate::site::Site;

/// Where the scope's own error stands.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ScopeError {
    /// The scope has none (a `close`, or its body returned `Ok`).
    Absent,
    /// Handlers see it, and may suppress it.
    Pending,
    /// A handler suppressed it.
    Suppressed,
}

/// The pending outcome of one unwind: two words, so that an unwind where nothing fails
/// starts and ends with a few stores and one test.
///
/// Whether the thread is panicking is asked when it matters (a panic to keep, a handler that
/// asks), not kept: every panic caught in an unwind is caught before it is recorded, so the
/// thread's panic count is back to what it was when the unwind began (or, for an async close,
/// to what it is in the current poll).
pub(crate) struct Pending {
    ending: Ending,
    scope_error: ScopeError,
    /// Whether the kept panic is the scope body's own: a scope called during a panic (from a
    /// `Drop`) still resumes its body's panic, as the body would without the scope.
    panic_is_body: bool,
    /// What failed: made on the first failure (which allocates anyway).
    failures: Option<Box<Failures>>,
}

/// The cleanup errors since the last suppression and the first panic of an unwind.
#[derive(Default)]
struct Failures {
    errors: Vec<CleanupError>,
    /// The first panic, to resume when the unwind ends.
    panic: Option<Payload>,
}

impl Pending {
    #[inline]
    pub(crate) fn new(ending: Ending) -> Pending {
        Pending {
            ending,
            scope_error: ScopeError::Absent,
            panic_is_body: false,
            failures: None,
        }
    }

    /// What failed so far, made on first use.
    fn failures(&mut self) -> &mut Failures {
        self.failures.get_or_insert_with(Box::default)
    }

    /// The kept panic, if any.
    fn panic(&self) -> Option<&Payload> {
        self.failures
            .as_ref()
            .and_then(|failures| failures.panic.as_ref())
    }

    /// The pending outcome at the end of a scope whose body ended with `ending`, with its own
    /// error pending if `scope_error`, and its panic (if it panicked) as the first panic.
    #[inline]
    pub(crate) fn for_scope(ending: Ending, scope_error: bool, panic: Option<Payload>) -> Pending {
        let mut pending = Pending::new(ending);
        pending.restart_scope(ending, scope_error, panic);
        pending
    }

    /// Gives an unwind under way (a cancelled async close) the ending of the scope that now
    /// finishes it. A panic already kept stays first.
    #[inline]
    pub(crate) fn restart_scope(
        &mut self,
        ending: Ending,
        scope_error: bool,
        panic: Option<Payload>,
    ) {
        self.ending = ending;
        self.scope_error = if scope_error {
            ScopeError::Pending
        } else {
            ScopeError::Absent
        };
        match panic {
            Some(payload) if self.panic().is_none() => {
                self.failures().panic = Some(payload);
                self.panic_is_body = true;
            }
            Some(payload) => self.record_panic(payload, None),
            None => {}
        }
    }

    pub(crate) fn ending(&self) -> Ending {
        self.ending
    }

    /// The ending of an unwind under way that is finished by a drop instead.
    pub(crate) fn set_ending(&mut self, ending: Ending) {
        self.ending = ending;
    }

    /// Whether a handler suppressed the scope's own error.
    pub(crate) fn suppressed(&self) -> bool {
        self.scope_error == ScopeError::Suppressed
    }

    /// Whether a panic is in flight: the body's, an earlier entry's, or the thread's.
    pub(crate) fn is_panicking(&self) -> bool {
        self.panic().is_some() || std::thread::panicking()
    }

    /// The cleanup errors since the last suppression, oldest first.
    pub(crate) fn errors(&self) -> &[CleanupError] {
        match &self.failures {
            Some(failures) => &failures.errors,
            None => &[],
        }
    }

    /// Whether the scope's own error is still pending (handlers see it).
    #[inline]
    pub(crate) fn scope_error_pending(&self) -> bool {
        self.scope_error == ScopeError::Pending
    }

    /// Keeps a cleanup's error. An [`UnwindError`] (or a group's errors) is flattened into its
    /// parts, each remembering the node it came from, and a [`CleanupError`] keeps the label it
    /// was given.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_error(&mut self, error: BoxError, site: Site) {
        self.failures()
            .errors
            .extend(crate::error_tree::flatten(error, site));
    }

    /// An exit handler suppressed what is pending: the scope's error (the scope then unwinds as
    /// one that succeeded, as in Python, so later error-only entries no longer run) and every
    /// cleanup error so far. Dropping those errors runs their `Drop`s: a panic there is this
    /// handler's.
    #[cold]
    #[inline(never)]
    pub(crate) fn suppress(&mut self, site: Site) {
        if self.scope_error == ScopeError::Pending {
            self.scope_error = ScopeError::Suppressed;
            if self.ending == Ending::Failed {
                self.ending = Ending::Succeeded;
            }
        }
        let errors = match &mut self.failures {
            Some(failures) => std::mem::take(&mut failures.errors),
            None => return,
        };
        for error in errors {
            if let Some(payload) = caught::drop_caught(error) {
                self.record_panic(payload, Some(&site));
            }
        }
    }

    /// Keeps the first panic to resume; reports any that cannot be resumed, then drops it.
    #[cold]
    #[inline(never)]
    pub(crate) fn record_panic(&mut self, payload: Payload, site: Option<&Site>) {
        if self.panic().is_none() && !std::thread::panicking() {
            self.failures().panic = Some(payload);
            return;
        }
        caught::report_panic(ReportReason::PanicDuringPanic, &*payload, site);
        caught::drop_payload(payload, site);
    }

    /// Ends the unwind: resumes the first panic (after reporting what would be lost with it),
    /// or returns the pending errors. A cleanup's panic kept while the thread was not panicking
    /// is reported instead if it is by now (an async close resumed from a `Drop` during a
    /// panic); a scope body's own panic is resumed whatever the thread is doing.
    #[inline(always)]
    pub(crate) fn finish(
        self,
        scope_error: Option<&(dyn Error + 'static)>,
    ) -> Result<(), UnwindError> {
        if self.failures.is_none() {
            // The common case, without a call, and with nothing to drop.
            return Ok(());
        }
        let resume_during_panic = self.panic_is_body;
        self.finish_outcome(scope_error, resume_during_panic)
    }

    #[cold]
    #[inline(never)]
    fn finish_outcome(
        mut self,
        scope_error: Option<&(dyn Error + 'static)>,
        resume_during_panic: bool,
    ) -> Result<(), UnwindError> {
        let Some(failures) = self.failures.take() else {
            return Ok(());
        };
        let Failures { errors, panic } = *failures;
        if let Some(payload) = panic {
            if std::thread::panicking() && !resume_during_panic {
                caught::report_panic(ReportReason::PanicDuringPanic, &*payload, None);
                caught::drop_payload(payload, None);
            } else {
                self.report_lost(scope_error, errors);
                panic::resume_unwind(payload);
            }
        }
        match UnwindError::from_errors(errors) {
            None => Ok(()),
            Some(errors) => Err(errors),
        }
    }

    /// Reports the scope's error and the cleanup errors that a resumed panic would lose, then
    /// drops the errors, reporting a panic of their `Drop`s.
    fn report_lost(&self, scope_error: Option<&(dyn Error + 'static)>, errors: Vec<CleanupError>) {
        if let Some(error) = scope_error.filter(|_| self.scope_error == ScopeError::Pending) {
            let text = caught::to_string_caught(&error);
            let lost = CleanupError::new(text).with_label("scope body");
            report::deliver(ReportReason::LostToPanic, &lost);
        }
        if let Some(payload) = caught::report_and_drop(errors, ReportReason::LostToPanic) {
            caught::report_panic(ReportReason::PanicDuringPanic, &*payload, None);
            caught::drop_payload(payload, None);
        }
    }

    /// Ends an unwind that has nobody to return errors to (a drop): reports them. Nothing is
    /// resumed during a panic, not even a scope body's panic (an async scope dropped part-way).
    pub(crate) fn finish_unobserved(self) {
        if self.failures.is_none() {
            return; // nothing to report, nothing to drop
        }
        if let Err(errors) = self.finish_outcome(None, false) {
            if let Some(payload) = caught::report_and_drop(errors.into_vec(), ReportReason::Dropped)
            {
                panic::resume_unwind(payload);
            }
        }
    }
}
