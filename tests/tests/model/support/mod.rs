//! Random programs for the model-based tests: what an entry does when it runs ([`Spec`]), what
//! a program does to its stack ([`Program`]), what both the real stack and the reference model
//! write down ([`Event`]), and the `proptest` strategies that generate programs.
//!
//! Every entry appends to one event log when it runs (or, for an exit handler, appends what it
//! saw), reports go to the same log, and so do the results of `close`, run-now, drop and scope.
//! Two logs are equal only if the order of every run, every error (with its label), every
//! suppression, every report and the final outcome agree.

mod hostile;
pub mod real;
pub mod real_async;
pub mod reference;
mod strategy;
mod tally;

pub use hostile::{drop_errors_quietly, drop_quietly, quiet_panics, settle};
pub use hostile::{shown, shown_error, shown_failure, BadDisplay, BadDrop, BadPayload};
pub use hostile::{BORROWING_DROPS, HANDLES_IN_PANIC, HOSTILE_DISPLAY, HOSTILE_ERROR_DROP};
pub use hostile::{DISPLAY_PANICKED, HOSTILE_PAYLOADS, HOSTILE_REPORTER, PANICKING_TIMER};
#[allow(unused_imports)] // each test binary uses a part of the strategies
pub use strategy::{beh, program, program_async, program_leases, spec};
pub use tally::{agrees_with_the_model, cases, focused_cases};

use exitstack::report::ReportReason;
use exitstack::Ending;

/// Identifies an entry; its label is `e{id}`, its error `err-{id}`, its panic `panic-{id}`.
pub type Id = u32;

/// What a fallible entry does when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beh {
    Ok,
    Fail,
    Panic,
    /// Panics with `panic_any(BadPayload(id))`: a payload whose own `Drop` panics.
    PanicBadPayload,
    /// Fails with `BadDisplay(id)`: an error whose `Display` panics.
    FailBadDisplay,
    /// Fails with `BadDrop(id)`: an error whose `Drop` panics.
    FailBadDrop,
}

/// What an exit handler (or a context's exit) answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitBeh {
    Propagate,
    Suppress,
    Fail,
    Panic,
}

/// One entry of a program, with the behaviour it will show when the stack unwinds it.
#[derive(Clone, Debug)]
pub enum Spec {
    /// `callback`.
    Callback { id: Id, panic: bool },
    /// `callback`.
    Try { id: Id, beh: Beh },
    /// `callback_on_error`.
    OnError { id: Id, panic: bool },
    /// `callback_on_success`.
    OnSuccess { id: Id, panic: bool },
    /// `push_exit` (or `push_exit` when it fails).
    Exit { id: Id, beh: ExitBeh },
    /// `enter` of a value whose `Drop` may hand an error to `report::error_in_drop` and may panic;
    /// when `borrowing`, its `Drop` first builds, fills and cancels stacks borrowing its locals
    /// (which must leave no trace).
    Enter {
        id: Id,
        report: bool,
        panic: bool,
        borrowing: bool,
    },
    /// `enter_closing`.
    Closing { id: Id, beh: Beh },
    /// `guard` / `guard`.
    Guard { id: Id, beh: Beh },
    /// `enter_context`; when `enter_fails`, nothing is registered.
    Context {
        id: Id,
        enter_fails: bool,
        beh: ExitBeh,
    },
    /// `callback_with_stack` registering `children` during the unwind, then maybe panicking.
    WithStack {
        id: Id,
        panic: bool,
        children: Vec<Spec>,
    },
    /// `push_stack` of a stack holding `children`.
    PushStack { id: Id, children: Vec<Spec> },
    /// `enter_closing` of a whole stack holding `children` (closed as one value).
    CloseNested { id: Id, children: Vec<Spec> },
    /// Async stacks only: `push_async_graceful` of a token whose graceful phase (pending once,
    /// then logs [`Event::Ran`]) does `graceful`, and whose forceful phase logs
    /// [`Event::Forced`] and does `forceful` (`Ok`, `Fail` with `err-force-{id}`, `Panic` with
    /// `panic-force-{id}`).
    TwoPhase {
        id: Id,
        graceful: Beh,
        forceful: Beh,
    },
    /// Async stacks only: `push_concurrent` of a group of branches (labelled `b{id}.{n}`, from
    /// 1), each an async stack holding its entries; `limit` 0 means no limit.
    Group {
        id: Id,
        limit: usize,
        branches: Vec<Vec<Spec>>,
    },
    /// Top level only: `share` of a value (its id) whose teardown logs [`Event::Ran`] and does
    /// `beh`; the entry is labelled `e{id}`. Then one more lease per `leases` item, each on the
    /// program's extra stack `stack` (modulo their number; skipped if that stack has ended):
    /// `enter_shared`, or (`holder`) `enter` of a value holding a plain `Shared` clone (whose
    /// drop lets go of it). The `Shared` that `share` returns is kept (`keep`: let go by
    /// [`Op::LetGo`] or at the end, logged) or dropped at once (never the last lease).
    ///
    /// With `async_teardown`, the teardown is async (`Shared::new_async`, or `share_async` on
    /// an async stack): awaited (pending once) when the last lease is the async stack's entry,
    /// else not run (a sync stack's entry fails with `NotRunError`, a plain `Shared` or a
    /// holder reports it).
    Share {
        id: Id,
        beh: Beh,
        leases: Vec<ExtraLease>,
        keep: bool,
        async_teardown: bool,
    },
    /// `slot` (labelled `e{id}`), then one `replace` per fill (value `n`, from 1, released by a
    /// teardown that logs [`Event::Released`] and does `beh`; the replace logged as
    /// [`Event::Swapped`]), then `end`.
    Slot {
        id: Id,
        fills: Vec<Fill>,
        end: SlotEnd,
    },
}

/// A lease of a shared value given to an extra stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtraLease {
    pub stack: usize,
    /// `enter` of a value holding a plain `Shared`, not `enter_shared`.
    pub holder: bool,
}

/// One `replace` of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    /// What the teardown of the value it installs does.
    pub beh: Beh,
    /// The `replace` is called inside a `Drop` that runs while the thread panics.
    pub in_panic: bool,
}

/// What a slot program does after its replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotEnd {
    /// Leaves the value in the slot (released at unwind).
    Keep,
    /// `clear`: releases it now (logged as [`Event::Swapped`] with `n` 0).
    Clear,
    /// `take`: takes it out, never released.
    Take,
}

/// How an extra stack of a program ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtraEnd {
    Close,
    Drop,
}

/// The id field of a spec, whichever its variant: a reference, shared or mutable as `$spec` is.
macro_rules! spec_id {
    ($spec:expr) => {
        match $spec {
            Spec::Callback { id, .. }
            | Spec::Try { id, .. }
            | Spec::OnError { id, .. }
            | Spec::OnSuccess { id, .. }
            | Spec::Exit { id, .. }
            | Spec::Enter { id, .. }
            | Spec::Closing { id, .. }
            | Spec::Guard { id, .. }
            | Spec::Context { id, .. }
            | Spec::WithStack { id, .. }
            | Spec::PushStack { id, .. }
            | Spec::CloseNested { id, .. }
            | Spec::TwoPhase { id, .. }
            | Spec::Group { id, .. }
            | Spec::Share { id, .. }
            | Spec::Slot { id, .. } => id,
        }
    };
}

impl Spec {
    pub fn id(&self) -> Id {
        *spec_id!(self)
    }

    fn id_mut(&mut self) -> &mut Id {
        spec_id!(self)
    }

    fn children_mut(&mut self) -> Option<&mut Vec<Spec>> {
        match self {
            Spec::WithStack { children, .. }
            | Spec::PushStack { children, .. }
            | Spec::CloseNested { children, .. } => Some(children),
            _ => None,
        }
    }

    /// Whether the program keeps a handle to the entry (to cancel or run it later).
    pub fn holdable(&self) -> bool {
        !matches!(
            self,
            Spec::PushStack { .. }
                | Spec::CloseNested { .. }
                | Spec::Group { .. }
                | Spec::Slot { .. }
        )
    }
}

/// One step of a program.
#[derive(Clone, Debug)]
pub enum Op {
    /// Registers `spec`; keeps its handle when `hold`.
    Push { spec: Spec, hold: bool },
    /// Cancels the held handle at this index (modulo the number held); no-op when none.
    Cancel(usize),
    /// Runs the held handle at this index now.
    RunNow(usize),
    /// `close()` in the middle of the program (the stack is reused afterwards).
    Close,
    /// `pop_all()`: the moved stack is closed at the very end.
    PopAll,
    /// Releases now (`release`) or cancels the held handle at this index inside a `Drop` that runs
    /// while the thread panics; the panic (`outer`) is caught and not logged.
    InPanic { index: usize, run: bool },
    /// Ends the program's extra stack at this index (modulo their number) as its
    /// [`ExtraEnd`] says; no-op when ended already. Those left end after the main stack.
    EndExtra(usize),
    /// Lets go of the kept `Shared` at this index: `release()` (logged as
    /// [`Event::SharedReleased`]) or a drop (logged as [`Event::SharedDropped`]). Those left are
    /// dropped at the very end.
    LetGo { index: usize, release: bool },
}

/// How a stack program ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
    Close,
    /// Dropped without close.
    Drop,
    /// Dropped while the thread is panicking (`panic!("outer")` with the stack as a local).
    DropDuringPanic,
    /// Async stacks only: `aclose` polled once (cut off at the first async entry in flight),
    /// the future dropped, then `aclose` again (it resumes).
    CancelThenClose,
    /// Async stacks only: `aclose` polled once, the future dropped, then the stack dropped.
    CancelThenDrop,
    /// `close_with(BodyError)` (`aclose_with` on an async stack): unwinds as a scope whose body
    /// failed; logged as [`Event::Scope`].
    CloseWith,
}

/// How the body of a scope function ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    Ok,
    Err,
    Panic,
    /// Async scopes only: the body, having done its ops, waits forever; the scope future is
    /// dropped there (cancelled), and the drop is logged as [`Event::Dropped`].
    Cancelled,
}

/// Hostile surroundings of a whole program.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hostile {
    /// The reporter panics on its `n`th report (from 1): that report goes to standard error,
    /// which the log cannot see; everything else must be unchanged.
    pub reporter_panics_at: Option<usize>,
    /// Async stack programs only: the stack has a time limit whose timer panics when started.
    pub timer_panics: bool,
}

/// A whole random program.
#[derive(Clone, Debug)]
pub enum Program {
    /// Operations on an `ExitStack`, then a way to end it.
    Stack {
        ops: Vec<Op>,
        finish: Finish,
        extras: Vec<ExtraEnd>,
        hostile: Hostile,
    },
    /// `ExitStack::scope` whose body performs `ops` (no close/pop_all: the body has `&stack`).
    Scope {
        ops: Vec<Op>,
        body: Body,
        extras: Vec<ExtraEnd>,
        hostile: Hostile,
    },
}

impl Program {
    pub fn hostile(&self) -> Hostile {
        match self {
            Program::Stack { hostile, .. } | Program::Scope { hostile, .. } => *hostile,
        }
    }

    /// The program's extra stacks (0–2, outside the scope for a scope program), which take
    /// leases of shared values, and how each ends.
    pub fn extras(&self) -> &[ExtraEnd] {
        match self {
            Program::Stack { extras, .. } | Program::Scope { extras, .. } => extras,
        }
    }
}

/// The result of `close`, of running a handle now, or of a nested close.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    Ok,
    /// Every error, displayed (`cleanup `e3` failed: err-3`), in order.
    Errors(Vec<String>),
    /// The panic that was resumed, by message.
    Panic(String),
}

/// The result of a scope function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeOut {
    Completed,
    Suppressed,
    Failed {
        body: bool,
        suppressed: bool,
        cleanup: Vec<String>,
    },
    Panic(String),
}

/// One line of the log both the real stack and the model write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An entry ran (for `enter`, its value was dropped; for a two-phase entry, its graceful
    /// phase).
    Ran(Id),
    /// The forceful phase of a two-phase entry ran.
    Forced(Id),
    /// An exit handler ran and saw this.
    Seen {
        id: Id,
        error: Option<String>,
        panicking: bool,
        ending: Ending,
    },
    /// A context's `enter` failed: nothing was registered.
    EnterFailed(Id),
    /// The report channel received an error, displayed.
    Report(ReportReason, String),
    Closed(Out),
    RunNow(Id, Out),
    /// The stack was dropped; the panic that came out of the drop, if any.
    Dropped(Option<String>),
    /// A stack moved out by `pop_all` was closed.
    Moved(Out),
    Scope(ScopeOut),
    /// The `n`th value put in slot `id` was released (its teardown ran).
    Released(Id, usize),
    /// The `replace` of slot `id` that installed value `n` (0: `clear`) returned this.
    Swapped {
        id: Id,
        n: usize,
        out: Out,
    },
    /// A plain `Shared` of value `id` was dropped (a cancelled lease entry, or a kept one);
    /// the panic that came out, if any.
    SharedDropped(Id, Option<String>),
    /// `Shared::release` of value `id` returned this.
    SharedReleased(Id, Out),
    /// Extra stack `k` was closed.
    ExtraClosed(usize, Out),
    /// Extra stack `k` was dropped; the panic that came out, if any.
    ExtraDropped(usize, Option<String>),
}

/// On an async stack, which entries are registered in their async form: the kinds that have
/// one, every other id (so each position in a program is sync in some cases, async in others).
pub fn runs_async(spec: &Spec) -> bool {
    if let Spec::TwoPhase { .. } | Spec::Group { .. } | Spec::Slot { .. } = spec {
        return true;
    }
    let kind = matches!(
        spec,
        Spec::Callback { .. }
            | Spec::Try { .. }
            | Spec::Exit { .. }
            | Spec::Guard { .. }
            | Spec::Context { .. }
    );
    kind && spec.id() % 2 == 1
}
