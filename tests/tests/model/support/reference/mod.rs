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
mod unwind;

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
}
