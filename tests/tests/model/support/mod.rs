//! Random programs for the model-based tests: what an entry does when it runs ([`Spec`]), what
//! a program does to its stack ([`Program`]), what both the real stack and the reference model
//! write down ([`Event`]), and the `proptest` strategies that generate programs.
//!
//! Every entry appends to one event log when it runs (or, for an exit handler, appends what it
//! saw), reports go to the same log, and so do the results of `close`, run-now, drop and scope.
//! Two logs are equal only if the order of every run, every error (with its label), every
//! suppression, every report and the final outcome agree.

pub mod real;
pub mod real_async;
pub mod reference;
mod strategy;

#[allow(unused_imports)] // each test binary uses a part of the strategies
pub use strategy::{beh, program, program_async, program_leases, spec};

use exitstack::report::ReportReason;
use exitstack::Ending;
use proptest::test_runner::TestCaseError;

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

// Hostile values: each generator can be switched off on its own (to keep the suite green while
// an engine bug it finds is open, see the final report of the helper that added them).

/// Entries panic with payloads whose `Drop` panics ([`Beh::PanicBadPayload`]).
pub const HOSTILE_PAYLOADS: bool = true;
/// Entries fail with errors whose `Display` panics ([`Beh::FailBadDisplay`]).
pub const HOSTILE_DISPLAY: bool = true;
/// Entries fail with errors whose `Drop` panics ([`Beh::FailBadDrop`]).
pub const HOSTILE_ERROR_DROP: bool = true;
/// The reporter panics on one of its reports ([`Hostile::reporter_panics_at`]).
pub const HOSTILE_REPORTER: bool = true;
/// `enter`ed values whose `Drop` builds, fills and cancels stacks borrowing its locals.
pub const BORROWING_DROPS: bool = true;
/// Handles run now or cancelled inside a `Drop` that runs during a panic ([`Op::InPanic`]).
pub const HANDLES_IN_PANIC: bool = true;
/// Async stacks whose time limit's timer panics when started ([`Hostile::timer_panics`]).
pub const PANICKING_TIMER: bool = true;

/// A payload whose `Drop` panics with `payload-drop-{id}`.
pub struct BadPayload(pub Id);

impl Drop for BadPayload {
    fn drop(&mut self) {
        panic!("payload-drop-{}", self.0);
    }
}

/// An error whose `Display` panics with `display-{id}`.
#[derive(Debug)]
pub struct BadDisplay(pub Id);

impl std::fmt::Display for BadDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("display-{}", self.0)
    }
}

impl std::error::Error for BadDisplay {}

/// An error (displayed `err-{id}`) whose `Drop` panics with `error-drop-{id}`.
#[derive(Debug)]
pub struct BadDrop(pub Id);

impl std::fmt::Display for BadDrop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "err-{}", self.0)
    }
}

impl std::error::Error for BadDrop {}

impl Drop for BadDrop {
    fn drop(&mut self) {
        panic!("error-drop-{}", self.0);
    }
}

/// What the test harness writes for a value whose `Display` panicked.
pub const DISPLAY_PANICKED: &str = "<display panicked>";

/// Formats `value`, or [`DISPLAY_PANICKED`] if its `Display` panics.
pub fn shown(value: &dyn std::fmt::Display) -> String {
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| value.to_string()));
    text.unwrap_or_else(|payload| {
        settle(payload);
        DISPLAY_PANICKED.to_owned()
    })
}

/// Formats a cleanup error, or, if its `Display` panics, [`DISPLAY_PANICKED`] and its label.
pub fn shown_error(error: &exitstack::CleanupError) -> String {
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| error.to_string()));
    text.unwrap_or_else(|payload| {
        settle(payload);
        shown_failure(error.label())
    })
}

/// What [`shown_error`] writes for an error labelled `label` whose `Display` panicked.
pub fn shown_failure(label: Option<&str>) -> String {
    format!("{DISPLAY_PANICKED} {label:?}")
}

/// Drops `value` inside `catch_unwind` (a hostile `Drop` must not unwind into the harness).
pub fn drop_quietly<T>(value: T) {
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(value)));
    if let Err(payload) = dropped {
        settle(payload);
    }
}

/// Drops every error of `errors` on its own, inside `catch_unwind`. Not `drop_quietly(errors)`:
/// a `Vec` whose element's `Drop` panics drops the rest while unwinding, and a second such
/// `Drop` then aborts the process, `catch_unwind` or not.
pub fn drop_errors_quietly(errors: exitstack::UnwindError) {
    for error in errors {
        drop_quietly(error);
    }
}

/// The message of a caught panic (see [`panic_message`]); the payload is dropped safely.
pub fn settle(payload: Box<dyn std::any::Any + Send>) -> String {
    let message = panic_message(&*payload);
    if let Err(more) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(payload)))
    {
        settle(more);
    }
    message
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

impl Spec {
    pub fn id(&self) -> Id {
        match self {
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
            | Spec::Slot { id, .. } => *id,
        }
    }

    fn id_mut(&mut self) -> &mut Id {
        match self {
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

/// Checks of the log that need no model (`SEMANTICS.md`, "Shared leases and slots"): every
/// entry and every slot value runs at most once, and every shared value with a sync teardown
/// is torn down exactly once (all its leases are let go by the end of every program; an async
/// teardown may be reported as not run instead).
pub fn exactly_once(program: &Program, log: &[Event]) -> Result<(), TestCaseError> {
    let mut seen = std::collections::HashSet::new();
    let mut released = std::collections::HashSet::new();
    for event in log {
        match event {
            Event::Ran(id) | Event::Seen { id, .. } if !seen.insert(*id) => {
                return Err(TestCaseError::fail(format!("entry {id} ran twice")));
            }
            Event::Released(id, n) if !released.insert((*id, *n)) => {
                return Err(TestCaseError::fail(format!(
                    "value {n} of slot {id} released twice"
                )));
            }
            _ => {}
        }
    }
    let ops = match program {
        Program::Stack { ops, .. } | Program::Scope { ops, .. } => ops,
    };
    for op in ops {
        if let Op::Push {
            spec:
                Spec::Share {
                    id,
                    async_teardown: false,
                    ..
                },
            ..
        } = op
        {
            if !seen.contains(id) {
                return Err(TestCaseError::fail(format!("shared {id} never torn down")));
            }
        }
    }
    Ok(())
}

/// What a run of many programs did, summed over their logs.
#[derive(Clone, Copy, Default, Debug)]
pub struct Tally {
    pub programs: usize,
    pub entries_run: usize,
    /// Panics that came out of a close, run-now, drop or scope.
    pub panics_resumed: usize,
    /// Of those, `BadPayload`s (caught by the harness, dropped inside `catch_unwind`).
    pub bad_payloads_resumed: usize,
    pub errors_returned: usize,
    pub reports: usize,
    /// Reports of a payload's `Drop` that panicked.
    pub payload_drop_reports: usize,
    /// Errors shown by the placeholder because their `Display` panicked.
    pub display_placeholders: usize,
    /// Panics of an error's `Drop` (resumed or reported).
    pub error_drop_panics: usize,
    /// Timer panics (resumed or reported).
    pub timer_panics: usize,
    /// Programs whose reporter panicked on one report.
    pub reporter_panics: usize,
    /// Kept `Shared`s (or cancelled leases) dropped and released.
    pub shared_let_go: usize,
    /// Extra stacks closed or dropped.
    pub extras_ended: usize,
    /// Slot values released (by `replace`, `clear` or at unwind), and replaces that returned
    /// an error or a panic.
    pub slot_releases: usize,
    pub slot_swaps_failed: usize,
}

impl Tally {
    pub fn add(&mut self, program: &Program, log: &[Event]) {
        self.programs += 1;
        let reports = log
            .iter()
            .filter(|e| matches!(e, Event::Report(..)))
            .count();
        if program
            .hostile()
            .reporter_panics_at
            .is_some_and(|nth| nth <= reports + 1)
        {
            self.reporter_panics += 1;
        }
        for event in log {
            match event {
                Event::Ran(_) | Event::Forced(_) | Event::Seen { .. } => self.entries_run += 1,
                Event::SharedDropped(..) | Event::SharedReleased(..) => self.shared_let_go += 1,
                Event::ExtraClosed(..) | Event::ExtraDropped(..) => self.extras_ended += 1,
                Event::Released(..) => self.slot_releases += 1,
                Event::Swapped { out, .. } if *out != Out::Ok => self.slot_swaps_failed += 1,
                Event::Report(reason, _) => {
                    self.reports += 1;
                    if *reason == ReportReason::PayloadDropPanicked {
                        self.payload_drop_reports += 1;
                    }
                }
                _ => {}
            }
            let text = format!("{event:?}");
            let resumed =
                text.matches("Panic(\"").count() + text.matches("Dropped(Some(\"").count();
            self.panics_resumed += resumed;
            self.bad_payloads_resumed += text.matches("(\"bad-payload-").count();
            self.errors_returned += match event {
                Event::Closed(Out::Errors(errors))
                | Event::RunNow(_, Out::Errors(errors))
                | Event::Moved(Out::Errors(errors)) => errors.len(),
                Event::Scope(ScopeOut::Failed { cleanup, .. }) => cleanup.len(),
                _ => 0,
            };
            self.display_placeholders += text.matches(DISPLAY_PANICKED).count();
            self.error_drop_panics += text.matches("error-drop-").count();
            self.timer_panics += text.matches("timer-panic").count();
        }
    }

    pub fn print(&self, test: &str) {
        eprintln!(
            "{test}: {} programs, {} entries run, {} panics resumed ({} bad payloads), {} errors \
             returned, {} reports ({} payload-drop panics); {} errors shown by placeholder, {} \
             error-drop panics, {} timer panics, {} panicking reporters; {} shared let go, {} \
             extra stacks ended, {} slot releases, {} failed replaces",
            self.programs,
            self.entries_run,
            self.panics_resumed,
            self.bad_payloads_resumed,
            self.errors_returned,
            self.reports,
            self.payload_drop_reports,
            self.display_placeholders,
            self.error_drop_panics,
            self.timer_panics,
            self.reporter_panics,
            self.shared_let_go,
            self.extras_ended,
            self.slot_releases,
            self.slot_swaps_failed,
        );
    }
}

/// Number of cases: `PROPTEST_CASES`, else 10,000 (8 under Miri, which is ~1000x slower).
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(if cfg!(miri) { 8 } else { 10_000 })
}

/// Number of cases of a focused test (its programs are short): half of [`cases`], all 8 under
/// Miri (where 4 short programs reach almost nothing).
pub fn focused_cases() -> u32 {
    match cfg!(miri) {
        true => cases(),
        false => cases().div_ceil(2),
    }
}

/// The message of a panic payload; `bad-payload-{id}` for a [`BadPayload`].
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(BadPayload(id)) = payload.downcast_ref::<BadPayload>() {
        format!("bad-payload-{id}")
    } else if let Some(text) = payload.downcast_ref::<&'static str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "<non-string panic>".to_owned()
    }
}

/// Silences the default panic hook for the panics the programs raise on purpose (thousands of
/// them); any other panic (a failed assertion) is still printed.
pub fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = panic_message(info.payload());
            let planned = [
                "panic-",
                "bad-payload-",
                "payload-drop-",
                "display-",
                "error-drop-",
                "err-force-",
            ]
            .iter()
            .any(|prefix| message.starts_with(prefix))
                || ["reporter-panic", "timer-panic"].contains(&message.as_str())
                || message.ends_with(" panicked");
            if !planned && message != "body-panic" && message != "outer" {
                default(info);
            }
        }));
    });
}
