//! The unwinding loop and the state it carries from entry to entry.

use std::any::Any;
use std::cell::UnsafeCell;
use std::error::Error;
use std::panic::{self, AssertUnwindSafe};

use crate::arena::{Arena, Popped};
use crate::error::{BoxError, CleanupError, UnwindError};
use crate::exit::{Ending, Exit, Flow};
use crate::report::{self, ReportReason};
use crate::site::Site;

/// What one entry did.
pub(crate) enum Step {
    /// Ran (or was skipped by its condition) without an error.
    Done,
    /// Returned an error. An [`UnwindError`] is flattened into its parts.
    Failed(BoxError),
    /// An exit handler asked to suppress what is pending.
    Suppress,
}

impl From<Flow> for Step {
    /// An exit handler's answer as a step.
    fn from(flow: Flow) -> Step {
        match flow {
            Flow::Propagate => Step::Done,
            Flow::Suppress => Step::Suppress,
        }
    }
}

/// The state of one unwind, shared by the entries as they run.
pub(crate) struct Unwind<'u> {
    /// How the scope ended.
    pub(crate) ending: Ending,
    /// The scope's own error, while it is still pending (not suppressed).
    pub(crate) scope_error: Option<&'u (dyn Error + 'static)>,
    /// Whether a handler suppressed the scope's error.
    pub(crate) scope_suppressed: bool,
    /// Cleanup errors pending since the last suppression, in order.
    pub(crate) errors: Vec<CleanupError>,
    /// The first panic of this unwind (or the body's), to resume when the loop ends.
    pub(crate) panic: Option<Box<dyn Any + Send>>,
    /// Whether the thread was already panicking when the unwind began: then no panic may be
    /// resumed (that would abort), and every panic caught is reported instead.
    pub(crate) thread_panicking: bool,
    /// The arena being unwound, for entries that splice a nested stack in.
    pub(crate) arena: &'u UnsafeCell<Arena>,
    /// The stack being unwound, type-erased, for entries that receive it.
    pub(crate) stack: *const (),
}

impl<'u> Unwind<'u> {
    #[inline]
    pub(crate) fn new(ending: Ending, arena: &'u UnsafeCell<Arena>, stack: *const ()) -> Self {
        // First, so the state is written in place rather than copied after the call.
        let thread_panicking = std::thread::panicking();
        Unwind {
            ending,
            scope_error: None,
            scope_suppressed: false,
            errors: Vec::new(),
            panic: None,
            thread_panicking,
            arena,
            stack,
        }
    }

    /// The read-only view handed to exit handlers.
    pub(crate) fn exit(&self) -> Exit<'_> {
        Exit::new(self)
    }

    /// Whether a panic is in flight: the body's, an earlier entry's, or the thread's.
    pub(crate) fn is_panicking(&self) -> bool {
        self.panic.is_some() || self.thread_panicking
    }

    /// Runs every entry, newest first, until the arena is empty. Entries pushed while this runs
    /// are run next. Never recursive and never unwinds out: panics are caught and kept.
    pub(crate) fn run_all(&mut self) {
        loop {
            // SAFETY: the `&mut Arena` lives only for this call; no other reference into the
            // arena's bookkeeping exists while it does (entries run after it has ended).
            let popped = unsafe { (*self.arena.get()).pop() };
            let Some(popped) = popped else { break };
            // SAFETY: the entry was just popped off this unwind's arena; nothing has run or
            // discarded its body.
            unsafe { self.run_popped(popped) };
        }
    }

    /// Runs one popped sync entry, catching its panic, and records what it did. The hot path
    /// of every unwind loop (the async one too), so it is inlined into each.
    ///
    /// Safety: `popped` was just taken off this unwind's arena and its body has not been run or
    /// discarded.
    #[inline]
    pub(crate) unsafe fn run_popped(&mut self, popped: Popped) {
        let run = popped.vtable.run;
        let body = popped.body;
        // SAFETY: per the contract the body is run exactly once, here; `run` moves it out of
        // the slot before calling any user code that could push over it.
        let step = panic::catch_unwind(AssertUnwindSafe(|| unsafe { run(body, self) }));
        match step {
            Ok(Step::Done) => {}
            Ok(step) => self.record(step, popped.site),
            Err(payload) => self.record_panic(payload, popped.site),
        }
    }

    /// Applies a failure or a suppression. Inlined so that the common `Done` costs a compare.
    #[inline]
    pub(crate) fn record(&mut self, step: Step, site: Site) {
        if !matches!(step, Step::Done) {
            self.record_outcome(step, site);
        }
    }

    /// `record` for the steps that change something.
    #[cold]
    #[inline(never)]
    fn record_outcome(&mut self, step: Step, site: Site) {
        match step {
            Step::Done => {}
            Step::Suppress => {
                if self.scope_error.take().is_some() {
                    self.scope_suppressed = true;
                    // The scope's error was handled: from here on the scope unwinds as one
                    // that succeeded, as in Python (later exits see no exception), so a later
                    // error-only entry (a rollback) no longer runs and a success-only one does.
                    if self.ending == Ending::Failed {
                        self.ending = Ending::Closed;
                    }
                }
                self.errors.clear();
            }
            Step::Failed(error) => {
                let (label, location) = site.into_parts();
                match error.downcast::<UnwindError>() {
                    Ok(many) => {
                        for mut one in many.into_vec() {
                            one.set_site(label.clone(), location);
                            self.errors.push(one);
                        }
                    }
                    Err(error) => {
                        // A cleanup may return a `CleanupError` it labelled itself (the type
                        // `from_drop` takes): keep its label, do not nest it in another one
                        // (found by `tests/tests/semantics_errors.rs`,
                        // `s08_a_returned_cleanup_error_keeps_its_own_label`).
                        let mut one = match error.downcast::<CleanupError>() {
                            Ok(one) => *one,
                            Err(error) => CleanupError::new(error),
                        };
                        one.set_site(label, location);
                        self.errors.push(one);
                    }
                }
            }
        }
    }

    /// Keeps the first panic to resume; reports any that cannot be resumed.
    pub(crate) fn record_panic(&mut self, payload: Box<dyn Any + Send>, site: Site) {
        if self.panic.is_none() && !self.thread_panicking {
            self.panic = Some(payload);
            return;
        }
        let (label, location) = site.into_parts();
        let mut error = CleanupError::from_panic(&*payload);
        error.set_site(label, location);
        report::deliver(ReportReason::PanicDuringPanic, &error);
    }

    /// The cleanup errors left pending, as the result of `close`.
    pub(crate) fn take_errors(&mut self) -> Option<UnwindError> {
        UnwindError::from_errors(std::mem::take(&mut self.errors))
    }

    /// Ends the unwind: resumes the first panic (after reporting the errors that would be lost
    /// with it), or returns the pending errors.
    #[inline]
    pub(crate) fn finish(self) -> Result<(), UnwindError> {
        if self.panic.is_none() && self.errors.is_empty() {
            return Ok(()); // the common case, without a call
        }
        self.finish_outcome()
    }

    /// `finish` with a panic to resume or errors to return.
    #[cold]
    #[inline(never)]
    fn finish_outcome(mut self) -> Result<(), UnwindError> {
        if let Some(payload) = self.panic.take() {
            // The scope's own error is pending too (rule 13): without this it would be
            // dropped silently when a cleanup's panic is resumed (found by faults_sync.rs).
            if let Some(error) = self.scope_error {
                let lost = CleanupError::new(error.to_string()).with_label("scope body");
                report::deliver(ReportReason::LostToPanic, &lost);
            }
            for error in &self.errors {
                report::deliver(ReportReason::LostToPanic, error);
            }
            panic::resume_unwind(payload);
        }
        match self.take_errors() {
            None => Ok(()),
            Some(errors) => Err(errors),
        }
    }

    /// Ends an unwind that has nobody to return errors to (a drop): reports them.
    pub(crate) fn finish_unobserved(self) {
        if let Err(errors) = self.finish() {
            for error in &errors {
                report::deliver(ReportReason::Dropped, error);
            }
        }
    }
}
