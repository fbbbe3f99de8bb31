//! The reference model of one unwind (`SEMANTICS.md`, "Order", "Exactly once", "Errors",
//! "Panics", "Drop" and "Async"): every entry runs once, newest first, what it returns or the
//! panic it raises is recorded, and the unwind finishes as a close or a drop (rules H1, H3, H4
//! and H6 for the hostile values).

use super::*;

impl Model {
    /// `SEMANTICS.md`, "Panics": the first panic is kept (unless the thread is already panicking),
    /// any other is reported.
    pub(super) fn record_panic(&mut self, unwind: &mut Unwind, panic: Panic, label: Option<&str>) {
        if unwind.panic.is_none() && !unwind.thread_panicking {
            unwind.panic = Some(panic);
        } else {
            self.report_panic(&panic, label.map(str::to_owned));
        }
    }

    pub(super) fn record(&mut self, unwind: &mut Unwind, step: Step, label: Option<&str>) {
        match step {
            Step::Done => {}
            // `SEMANTICS.md`, "Errors": suppressing clears the scope's error and every earlier
            // cleanup error; once the scope's error is handled, the rest unwinds as a success. Rule
            // H3: the errors are dropped, oldest first; a `Drop` that panics is the handler's
            // panic.
            Step::Suppress => {
                if unwind.scope_error.take().is_some() {
                    unwind.scope_suppressed = true;
                    if unwind.ending == Ending::Failed {
                        unwind.ending = Ending::Succeeded;
                    }
                }
                for error in std::mem::take(&mut unwind.errors) {
                    if let Some(id) = error.drop_panics {
                        let panic = Panic::plain(format!("error-drop-{id}"));
                        self.record_panic(unwind, panic, label);
                    }
                }
            }
            Step::Failed(errors) => unwind.errors.extend(errors.into_iter().map(|mut error| {
                if error.label.is_none() {
                    error.label = label.map(str::to_owned);
                }
                error
            })),
        }
    }

    /// Rule H3: reports `errors` with `reason`, then drops them, oldest first; returns the
    /// first `Drop` panic if the thread is not panicking (to resume), having reported the
    /// others (unlabelled) as they happened.
    pub(super) fn report_and_drop(
        &mut self,
        errors: &[Error],
        reason: ReportReason,
        thread_panicking: bool,
    ) -> Option<Panic> {
        for error in errors {
            self.report(reason, error);
        }
        let mut first = None;
        for id in errors.iter().filter_map(|error| error.drop_panics) {
            let panic = Panic::plain(format!("error-drop-{id}"));
            if first.is_none() && !thread_panicking {
                first = Some(panic);
            } else {
                self.report_panic(&panic, None);
            }
        }
        first
    }

    pub(super) fn fallible(&mut self, id: Id, beh: Beh) -> Result<Step, Panic> {
        self.log.push(Event::Ran(id));
        outcome(id, beh)
    }

    fn plain(&mut self, id: Id, panic: bool) -> Result<Step, Panic> {
        self.fallible(id, if panic { Beh::Panic } else { Beh::Ok })
    }

    /// Runs one entry; `Err` is the message of its panic. Entries it registers go on `stack`.
    pub(super) fn run_entry(
        &mut self,
        unwind: &Unwind,
        entry: Entry,
        stack: &mut Vec<Entry>,
    ) -> Result<Step, Panic> {
        let spec = match entry {
            // `SEMANTICS.md`, "Order": a pushed stack's entries go on top and run next, in their
            // own order.
            Entry::Pushed { entries, .. } => {
                stack.extend(entries);
                return Ok(Step::Done);
            }
            Entry::Closing { entries, .. } => {
                let mut inner = Unwind::new(Ending::Succeeded, unwind.thread_panicking);
                inner.dropping_async = false; // a sync stack, closed
                let mut entries = entries;
                self.run_all(&mut inner, &mut entries);
                return match self.finish(inner) {
                    Finished::Ok => Ok(Step::Done),
                    Finished::Errors(errors) => Ok(Step::Failed(errors)),
                    Finished::Panic(panic) => Err(panic),
                };
            }
            // `SEMANTICS.md`, "Async": dropped without `aclose`, a group drops its branches (each
            // a dropped stack), then is reported as any async entry.
            Entry::Group { id, branches, .. } if unwind.dropping_async => {
                let panic = self.drop_branches(branches, unwind.thread_panicking);
                self.report_not_run(id);
                return panic.map_or(Ok(Step::Done), Err);
            }
            Entry::Group {
                limit, branches, ..
            } => return self.run_group(limit, branches, unwind.ending),
            Entry::Leaf(spec, true) if unwind.dropping_async => {
                // `SEMANTICS.md`, "Async": dropped without `aclose`, an async entry is reported,
                // never lost. A two-phase entry's forceful phase runs on its value first.
                let panic = match spec {
                    Spec::TwoPhase { id, forceful, .. } => {
                        self.forced_in_drop(id, forceful, unwind.thread_panicking)
                    }
                    _ => None,
                };
                self.report_not_run(spec.id());
                return panic.map_or(Ok(Step::Done), Err);
            }
            Entry::Lease {
                id,
                holder,
                on_async,
                ..
            } => return self.lease_entry(id, holder, on_async, stack),
            Entry::AsyncTeardown(_) if unwind.dropping_async => {
                self.report_not_run_unlabelled();
                return Ok(Step::Done);
            }
            Entry::AsyncTeardown(id) => return self.teardown(id),
            Entry::Leaf(spec, _) => spec,
        };
        match spec {
            Spec::Callback { id, panic } => self.plain(id, panic),
            Spec::Try { id, beh } | Spec::Closing { id, beh } | Spec::Guard { id, beh } => {
                self.fallible(id, beh)
            }
            // `SEMANTICS.md`, "Drop": error-only / success-only entries follow how the scope ended.
            Spec::OnError { id, panic } if !unwind.ending.is_success() => self.plain(id, panic),
            Spec::OnSuccess { id, panic } if unwind.ending.is_success() => self.plain(id, panic),
            Spec::OnError { .. } | Spec::OnSuccess { .. } => Ok(Step::Done),
            Spec::Exit { id, beh } | Spec::Context { id, beh, .. } => {
                self.log.push(Event::Seen {
                    id,
                    error: current_error(unwind),
                    panicking: unwind.panic.is_some() || unwind.thread_panicking,
                    ending: unwind.ending,
                });
                match beh {
                    ExitBeh::Propagate => Ok(Step::Done),
                    ExitBeh::Suppress => Ok(Step::Suppress),
                    ExitBeh::Fail => Ok(Step::Failed(vec![failure(id)])),
                    ExitBeh::Panic => Err(panic_of(id)),
                }
            }
            // Rule H4: stacks built and cancelled inside the `Drop` leave no trace.
            Spec::Enter {
                id, report, panic, ..
            } => {
                self.log.push(Event::Ran(id));
                let collected: Vec<Error> = report.then(|| failure(id)).into_iter().collect();
                if panic {
                    // What the drop collected before panicking cannot be returned: reported.
                    for error in &collected {
                        self.report(ReportReason::LostToPanic, error);
                    }
                    return Err(panic_of(id));
                }
                Ok(match collected.is_empty() {
                    true => Step::Done,
                    false => Step::Failed(collected),
                })
            }
            // `SEMANTICS.md`, "Order": entries registered during the unwind run next.
            Spec::WithStack {
                id,
                panic,
                children,
            } => {
                self.log.push(Event::Ran(id));
                let registering_in_panic = self.registering_in_panic;
                self.registering_in_panic = unwind.thread_panicking;
                for child in &children {
                    // Registered on the `&ExitStack` it receives: sync forms only.
                    if let Some(entry) = self.build(child, false) {
                        stack.push(entry);
                    }
                }
                self.registering_in_panic = registering_in_panic;
                match panic {
                    true => Err(panic_of(id)),
                    false => Ok(Step::Done),
                }
            }
            Spec::TwoPhase {
                id,
                graceful,
                forceful,
            } => self.two_phase(id, graceful, forceful),
            Spec::Slot { id, fills, end } => self.slot_unwound(id, &fills, end),
            Spec::PushStack { .. }
            | Spec::CloseNested { .. }
            | Spec::Group { .. }
            | Spec::Share { .. } => {
                unreachable!("built on push")
            }
        }
    }

    /// `SEMANTICS.md`, "Exactly once" and "Panics": every entry once, newest first; a panic stops
    /// nothing.
    pub(super) fn run_all(&mut self, unwind: &mut Unwind, stack: &mut Vec<Entry>) {
        while !stack.is_empty() {
            self.run_one(unwind, stack);
        }
    }

    /// Runs the top entry.
    pub(super) fn run_one(&mut self, unwind: &mut Unwind, stack: &mut Vec<Entry>) {
        if let Some(entry) = stack.pop() {
            let label = entry.label();
            let label = label.as_deref();
            // Rule H6: an async entry started under a time limit whose timer panics still runs
            // (without a limit); the timer's panic is the entry's, recorded when it starts:
            // after an exit handler's `exit` (which makes the future), before a cleanup's
            // body (which runs in the future).
            let timed = entry.is_async() && unwind.timer_panics && !unwind.dropping_async;
            let starts_in_exit = matches!(
                entry,
                Entry::Leaf(Spec::Exit { .. } | Spec::Context { .. }, _)
            );
            if entry.pends() && !unwind.dropping_async {
                self.pending_points += 1;
            }
            if timed && !starts_in_exit {
                self.record_panic(unwind, timer_panic(), label);
            }
            let result = self.run_entry(unwind, entry, stack);
            if timed && starts_in_exit {
                self.record_panic(unwind, timer_panic(), label);
            }
            match result {
                Ok(step) => self.record(unwind, step, label),
                Err(panic) => self.record_panic(unwind, panic, label),
            }
        }
    }

    /// `SEMANTICS.md`, "Errors" and "Panics": the first panic wins and pending errors are reported
    /// (then dropped, rule H3), else all errors.
    pub(super) fn finish(&mut self, unwind: Unwind) -> Finished {
        if let Some(panic) = unwind.panic {
            if let Some(error) = &unwind.scope_error {
                let lost = Error::new(Some("scope body".to_owned()), error.clone());
                self.report(ReportReason::LostToPanic, &lost);
            }
            let errors = unwind.errors;
            let first = self.report_and_drop(&errors, ReportReason::LostToPanic, false);
            if let Some(first) = first {
                self.report_panic(&first, None);
            }
            return Finished::Panic(panic);
        }
        match unwind.errors.is_empty() {
            true => Finished::Ok,
            false => Finished::Errors(unwind.errors),
        }
    }

    pub(super) fn close(&mut self, stack: Vec<Entry>, timer_panics: bool) -> Out {
        let mut unwind = Unwind::new(Ending::Succeeded, false);
        unwind.timer_panics = timer_panics;
        let mut stack = stack;
        self.run_all(&mut unwind, &mut stack);
        self.finish(unwind).out()
    }

    /// `SEMANTICS.md`, "Drop": a dropped stack still runs everything; its errors are reported.
    pub(super) fn drop_stack(
        &mut self,
        stack: Vec<Entry>,
        thread_panicking: bool,
    ) -> Option<String> {
        let ending = match thread_panicking {
            true => Ending::Panicked,
            false => Ending::Abandoned,
        };
        let mut unwind = Unwind::new(ending, thread_panicking);
        unwind.dropping_async = self.async_stack;
        self.finish_drop(unwind, stack)
    }

    /// Rule H3: the errors of a drop are reported, then dropped; the first `Drop` panic goes
    /// on unless the thread is panicking.
    pub(super) fn finish_drop(&mut self, unwind: Unwind, stack: Vec<Entry>) -> Option<String> {
        self.finish_drop_panic(unwind, stack)
            .map(|panic| panic.message)
    }

    /// [`Model::finish_drop`], with the whole panic that goes on.
    pub(super) fn finish_drop_panic(
        &mut self,
        mut unwind: Unwind,
        mut stack: Vec<Entry>,
    ) -> Option<Panic> {
        let thread_panicking = unwind.thread_panicking;
        self.run_all(&mut unwind, &mut stack);
        match self.finish(unwind) {
            Finished::Ok => None,
            Finished::Errors(errors) => {
                self.report_and_drop(&errors, ReportReason::Dropped, thread_panicking)
            }
            Finished::Panic(panic) => Some(panic),
        }
    }

    /// `SEMANTICS.md`, "Async": an async entry that will never run is reported.
    pub(super) fn report_not_run(&mut self, id: Id) {
        let error = Error::new(Some(label(id)), exitstack::NotRunError.to_string());
        self.report(ReportReason::AsyncNotRun, &error);
    }
}
