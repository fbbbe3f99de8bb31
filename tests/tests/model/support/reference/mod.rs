//! The reference model: a plain `Vec` of entries and a few lines per rule of `SEMANTICS.md`
//! (repository root), written from the rules, not from the runtime's code.
//! It predicts the whole event log of a [`Program`].

use exitstack::report::ReportReason;
use exitstack::Ending;

use super::{shown_failure, Beh, Body, Event, ExitBeh, Finish, Id, Op, Out, Program, ScopeOut};
use super::{ExtraEnd, ExtraLease, Fill, SlotEnd, Spec, DISPLAY_PANICKED};

mod group;
mod leases;
mod programs;

/// A registered entry. Nested stacks are built (their contexts entered) when registered.
enum Entry {
    /// A leaf or a `WithStack` (whose children are registered only when it runs); `true`
    /// when registered in its async form.
    Leaf(Spec, bool),
    /// `push_stack`: the entries run in this stack's unwind, with its state.
    Pushed { id: Id, entries: Vec<Entry> },
    /// `enter_closing` of a stack: closed on its own, its result becomes this entry's.
    Closing { id: Id, entries: Vec<Entry> },
    /// `push_concurrent`: labelled branches, each a stack of leaves (see `group.rs`).
    Group {
        id: Id,
        limit: usize,
        branches: Vec<(String, Vec<Entry>)>,
    },
    /// A lease of shared value `id` (see `leases.rs`); labelled `e{id}` unless registered by
    /// `share` (which gives no handle to label it); a `holder` is a value holding a plain
    /// `Shared` (`enter`); `on_async`: an entry of an async stack.
    Lease {
        id: Id,
        labelled: bool,
        holder: bool,
        on_async: bool,
    },
    /// The async teardown of shared value `id`, registered (unlabelled) as the next entry by
    /// its last lease on an async stack.
    AsyncTeardown(Id),
}

impl Entry {
    fn id(&self) -> Id {
        match self {
            Entry::Leaf(spec, _) => spec.id(),
            Entry::Pushed { id, .. }
            | Entry::Closing { id, .. }
            | Entry::Group { id, .. }
            | Entry::Lease { id, .. }
            | Entry::AsyncTeardown(id) => *id,
        }
    }

    /// The label its errors and reported panics carry.
    fn label(&self) -> Option<String> {
        match self {
            Entry::Lease {
                labelled: false, ..
            }
            | Entry::AsyncTeardown(_) => None,
            entry => Some(label(entry.id())),
        }
    }

    /// An async entry: awaited by `aclose`, reported (not run) by a dropped stack.
    fn is_async(&self) -> bool {
        matches!(
            self,
            Entry::Leaf(_, true) | Entry::Group { .. } | Entry::AsyncTeardown(_)
        )
    }

    /// An async leaf whose future is pending once when awaited: all but an async slot left
    /// empty (its release is ready at once).
    fn pends(&self) -> bool {
        match self {
            Entry::Leaf(Spec::Slot { fills, end, .. }, true) => {
                *end == SlotEnd::Keep && !fills.is_empty()
            }
            entry => matches!(entry, Entry::Leaf(_, true) | Entry::AsyncTeardown(_)),
        }
    }
}

/// A cleanup error: label (if any) and message, and how hostile it is.
#[derive(Clone)]
struct Error {
    label: Option<String>,
    message: String,
    /// Its `Display` panics: the harness writes a placeholder with its label.
    display_panics: bool,
    /// Its `Drop` panics with `error-drop-{id}`.
    drop_panics: Option<Id>,
}

impl Error {
    fn new(label: Option<String>, message: String) -> Self {
        Error {
            label,
            message,
            display_panics: false,
            drop_panics: None,
        }
    }

    fn shown(&self) -> String {
        match (&self.label, self.display_panics) {
            (label, true) => shown_failure(label.as_deref()),
            (Some(label), false) => format!("cleanup `{label}` failed: {}", self.message),
            (None, false) => format!("cleanup failed: {}", self.message),
        }
    }
}

/// A panic: the message it is resumed with (as the harness reads it), and, for a
/// `BadPayload(id)`, the id whose payload's `Drop` panics.
#[derive(Clone)]
struct Panic {
    message: String,
    bad_payload: Option<Id>,
}

impl Panic {
    fn plain(message: String) -> Self {
        Panic {
            message,
            bad_payload: None,
        }
    }

    /// The message of the `PanicError` it is reported as.
    fn reported(&self) -> String {
        match self.bad_payload {
            Some(_) => "panicked: panic with a non-string payload".to_owned(),
            None => format!("panicked: {}", self.message),
        }
    }
}

enum Step {
    Done,
    Failed(Vec<Error>),
    Suppress,
}

enum Finished {
    Ok,
    Errors(Vec<Error>),
    Panic(Panic),
}

impl Finished {
    fn out(self) -> Out {
        match self {
            Finished::Ok => Out::Ok,
            // The harness drops the errors inside `catch_unwind`: a `Drop` that panics there
            // leaves no trace.
            Finished::Errors(errors) => Out::Errors(errors.iter().map(Error::shown).collect()),
            Finished::Panic(panic) => Out::Panic(panic.message),
        }
    }
}

/// The state of one unwind (`SEMANTICS.md`, "Errors" and "Panics").
struct Unwind {
    ending: Ending,
    scope_error: Option<String>,
    scope_suppressed: bool,
    errors: Vec<Error>,
    panic: Option<Panic>,
    thread_panicking: bool,
    /// An async stack being dropped: async entries are reported, not run (`SEMANTICS.md`, "Async").
    dropping_async: bool,
    /// The stack's time limit has a timer that panics when an async entry starts (rule H6).
    timer_panics: bool,
}

impl Unwind {
    fn new(ending: Ending, thread_panicking: bool) -> Self {
        Unwind {
            ending,
            scope_error: None,
            scope_suppressed: false,
            errors: Vec::new(),
            panic: None,
            thread_panicking,
            dropping_async: false,
            timer_panics: false,
        }
    }
}

/// Predicts the log of a program.
#[derive(Default)]
pub struct Model {
    pub log: Vec<Event>,
    /// Shared values: what the teardown does, whether it is async, and how many leases are
    /// left (`leases.rs`).
    shared: std::collections::HashMap<Id, (Beh, bool, usize)>,
    /// The program's extra stacks (`None` once ended) and how each ends.
    extras: Vec<Option<(Vec<Entry>, ExtraEnd)>>,
    /// The `Shared`s the program keeps, by value.
    kept: Vec<Id>,
    /// Entries are being registered while the thread panics (by an entry run during a panic).
    registering_in_panic: bool,
    /// Whether the program runs on an `AsyncExitStack` (see [`super::runs_async`]).
    async_stack: bool,
    /// Whether the program's own async stack has a timer that panics (not stacks moved out).
    timer_panics: bool,
    /// How many times an `aclose` was pending so far: once per async leaf it awaited, once
    /// per poll of a group that did not finish it (a cut-off close stops at the first).
    pending_points: usize,
}

/// `SEMANTICS.md`, "Errors": what an exit handler sees: the latest pending error, else the scope's
/// own.
fn current_error(unwind: &Unwind) -> Option<String> {
    match unwind.errors.last() {
        Some(error) if error.display_panics => Some(DISPLAY_PANICKED.to_owned()),
        Some(error) => Some(error.message.clone()),
        None => unwind.scope_error.clone(),
    }
}

fn label(id: Id) -> String {
    format!("e{id}")
}

fn failure(id: Id) -> Error {
    Error::new(None, format!("err-{id}"))
}

fn panic_of(id: Id) -> Panic {
    Panic::plain(format!("panic-{id}"))
}

/// Rule H1: `panic_any(BadPayload(id))`, whose payload's `Drop` panics.
fn bad_panic_of(id: Id) -> Panic {
    Panic {
        message: format!("bad-payload-{id}"),
        bad_payload: Some(id),
    }
}

/// Rule H6: the panic of a timer started for an async entry.
fn timer_panic() -> Panic {
    Panic::plain("timer-panic".to_owned())
}

/// What a fallible piece of user code labelled by `id` returns when it does `beh` (unlabelled
/// errors).
fn outcome(id: Id, beh: Beh) -> Result<Step, Panic> {
    match beh {
        Beh::Ok => Ok(Step::Done),
        Beh::Fail => Ok(Step::Failed(vec![failure(id)])),
        Beh::Panic => Err(panic_of(id)),
        Beh::PanicBadPayload => Err(bad_panic_of(id)),
        // Rule H2: an error whose `Display` panics changes nothing but how it is shown.
        Beh::FailBadDisplay => Ok(Step::Failed(vec![Error {
            display_panics: true,
            ..failure(id)
        }])),
        Beh::FailBadDrop => Ok(Step::Failed(vec![Error {
            drop_panics: Some(id),
            ..failure(id)
        }])),
    }
}

impl Model {
    /// Predicts the whole log of `program`.
    pub fn predict(program: &Program) -> Vec<Event> {
        Model::predict_on(program, false)
    }

    /// Predicts the log of `program` run on an `AsyncExitStack`.
    pub fn predict_async(program: &Program) -> Vec<Event> {
        Model::predict_on(program, true)
    }

    fn predict_on(program: &Program, async_stack: bool) -> Vec<Event> {
        let mut model = Model {
            async_stack,
            timer_panics: async_stack && program.hostile().timer_panics,
            extras: program
                .extras()
                .iter()
                .map(|end| Some((Vec::new(), *end)))
                .collect(),
            ..Model::default()
        };
        match program {
            Program::Stack { ops, finish, .. } => model.stack_program(ops, *finish),
            Program::Scope { ops, body, .. } => model.scope_program(ops, *body),
        }
        model.finish_world();
        // Rule H5: a reporter that panics loses that one report to standard error (which the
        // log cannot see), and nothing else changes.
        if let Some(nth) = program.hostile().reporter_panics_at {
            let at = model
                .log
                .iter()
                .enumerate()
                .filter(|(_, event)| matches!(event, Event::Report(..)))
                .nth(nth - 1)
                .map(|(at, _)| at);
            if let Some(at) = at {
                model.log.remove(at);
            }
        }
        model.log
    }

    fn report(&mut self, reason: ReportReason, error: &Error) {
        self.log.push(Event::Report(reason, error.shown()));
    }

    /// Rule H1: a panic that cannot be resumed is reported, then its payload dropped; a
    /// `BadPayload`'s drop panics, and that is reported in turn (its own payload, a string,
    /// drops quietly).
    fn report_panic(&mut self, panic: &Panic, label: Option<String>) {
        let error = Error::new(label.clone(), panic.reported());
        self.report(ReportReason::PanicDuringPanic, &error);
        if let Some(id) = panic.bad_payload {
            let message = format!("dropping a panic payload panicked: payload-drop-{id}");
            self.report(
                ReportReason::PayloadDropPanicked,
                &Error::new(label, message),
            );
        }
    }

    /// `SEMANTICS.md`, "Panics": the first panic is kept (unless the thread is already panicking),
    /// any other is reported.
    fn record_panic(&mut self, unwind: &mut Unwind, panic: Panic, label: Option<&str>) {
        if unwind.panic.is_none() && !unwind.thread_panicking {
            unwind.panic = Some(panic);
        } else {
            self.report_panic(&panic, label.map(str::to_owned));
        }
    }

    fn record(&mut self, unwind: &mut Unwind, step: Step, label: Option<&str>) {
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
    fn report_and_drop(
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

    /// Registers `spec`; a failed enter registers nothing (`SEMANTICS.md`, "Exactly once"). Async
    /// forms only where an async stack is the one registered on (`allow_async`).
    fn build(&mut self, spec: &Spec, allow_async: bool) -> Option<Entry> {
        match spec {
            Spec::Context {
                id,
                enter_fails: true,
                ..
            } => {
                self.log.push(Event::EnterFailed(*id));
                None
            }
            Spec::PushStack { id, children } => Some(Entry::Pushed {
                id: *id,
                entries: self.build_all(children, allow_async),
            }),
            Spec::CloseNested { id, children } => Some(Entry::Closing {
                id: *id,
                entries: self.build_all(children, false),
            }),
            Spec::Group {
                id,
                limit,
                branches,
            } => Some(Entry::Group {
                id: *id,
                limit: *limit,
                branches: (1..)
                    .zip(branches)
                    .map(|(n, specs)| (format!("b{id}.{n}"), self.build_all(specs, true)))
                    .collect(),
            }),
            Spec::Slot { id, fills, end } => {
                self.fill_slot(*id, fills, *end, allow_async);
                Some(Entry::Leaf(spec.clone(), allow_async))
            }
            Spec::Share { .. } => unreachable!("top level only: see `Model::share`"),
            leaf => {
                let is_async = allow_async && super::runs_async(leaf);
                Some(Entry::Leaf(leaf.clone(), is_async))
            }
        }
    }

    fn build_all(&mut self, specs: &[Spec], allow_async: bool) -> Vec<Entry> {
        let build = |spec| self.build(spec, allow_async);
        specs.iter().filter_map(build).collect()
    }

    fn fallible(&mut self, id: Id, beh: Beh) -> Result<Step, Panic> {
        self.log.push(Event::Ran(id));
        outcome(id, beh)
    }

    fn plain(&mut self, id: Id, panic: bool) -> Result<Step, Panic> {
        self.fallible(id, if panic { Beh::Panic } else { Beh::Ok })
    }

    /// Runs one entry; `Err` is the message of its panic. Entries it registers go on `stack`.
    fn run_entry(
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
            } => return self.run_group(limit, branches),
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
    fn run_all(&mut self, unwind: &mut Unwind, stack: &mut Vec<Entry>) {
        while !stack.is_empty() {
            self.run_one(unwind, stack);
        }
    }

    /// Runs the top entry.
    fn run_one(&mut self, unwind: &mut Unwind, stack: &mut Vec<Entry>) {
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
    fn finish(&mut self, unwind: Unwind) -> Finished {
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

    fn close(&mut self, stack: Vec<Entry>, timer_panics: bool) -> Out {
        let mut unwind = Unwind::new(Ending::Succeeded, false);
        unwind.timer_panics = timer_panics;
        let mut stack = stack;
        self.run_all(&mut unwind, &mut stack);
        self.finish(unwind).out()
    }

    /// `SEMANTICS.md`, "Drop": a dropped stack still runs everything; its errors are reported.
    fn drop_stack(&mut self, stack: Vec<Entry>, thread_panicking: bool) -> Option<String> {
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
    fn finish_drop(&mut self, unwind: Unwind, stack: Vec<Entry>) -> Option<String> {
        self.finish_drop_panic(unwind, stack)
            .map(|panic| panic.message)
    }

    /// [`Model::finish_drop`], with the whole panic that goes on.
    fn finish_drop_panic(&mut self, mut unwind: Unwind, mut stack: Vec<Entry>) -> Option<Panic> {
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
    fn report_not_run(&mut self, id: Id) {
        let error = Error::new(Some(label(id)), exitstack::NotRunError.to_string());
        self.report(ReportReason::AsyncNotRun, &error);
    }
}
