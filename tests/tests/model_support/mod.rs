//! Random programs for the model-based tests: what an entry does when it runs ([`Spec`]), what
//! a program does to its stack ([`Program`]), what both the real stack and the reference model
//! write down ([`Event`]), and the `proptest` strategies that generate programs.
//!
//! Every entry appends to one event log when it runs (or, for an exit handler, appends what it
//! saw), reports go to the same log, and so do the results of `close`, run-now, drop and scope.
//! Two logs are equal only if the order of every run, every error (with its label), every
//! suppression, every report and the final outcome agree.

#![allow(dead_code)] // each test binary uses a part of this support module

pub mod real;
pub mod real_async;
pub mod reference;

use exitstack::report::ReportReason;
use exitstack::Ending;
use proptest::collection::vec;
use proptest::prelude::*;

/// Identifies an entry; its label is `e{id}`, its error `err-{id}`, its panic `panic-{id}`.
pub type Id = u32;

/// What a fallible entry does when it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Beh {
    Ok,
    Fail,
    Panic,
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
    /// `try_callback`.
    Try { id: Id, beh: Beh },
    /// `callback_on_error`.
    OnError { id: Id, panic: bool },
    /// `callback_on_success`.
    OnSuccess { id: Id, panic: bool },
    /// `push_exit` (or `try_push_exit` when it fails).
    Exit { id: Id, beh: ExitBeh },
    /// `enter` of a value whose `Drop` may hand an error to `report::from_drop` and may panic.
    Enter { id: Id, report: bool, panic: bool },
    /// `enter_closing`.
    Closing { id: Id, beh: Beh },
    /// `guard` / `try_guard`.
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
            | Spec::CloseNested { id, .. } => *id,
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
            | Spec::CloseNested { id, .. } => id,
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
        !matches!(self, Spec::PushStack { .. } | Spec::CloseNested { .. })
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
}

/// How the body of a scope function ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    Ok,
    Err,
    Panic,
}

/// A whole random program.
#[derive(Clone, Debug)]
pub enum Program {
    /// Operations on an `ExitStack`, then a way to end it.
    Stack { ops: Vec<Op>, finish: Finish },
    /// `ExitStack::scope` whose body performs `ops` (no close/pop_all: the body has `&stack`).
    Scope { ops: Vec<Op>, body: Body },
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
    /// An entry ran (for `enter`, its value was dropped).
    Ran(Id),
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
}

fn beh() -> impl Strategy<Value = Beh> {
    prop_oneof![5 => Just(Beh::Ok), 3 => Just(Beh::Fail), 1 => Just(Beh::Panic)]
}

fn exit_beh() -> impl Strategy<Value = ExitBeh> {
    prop_oneof![
        3 => Just(ExitBeh::Propagate),
        2 => Just(ExitBeh::Suppress),
        2 => Just(ExitBeh::Fail),
        1 => Just(ExitBeh::Panic),
    ]
}

fn panics() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.12)
}

fn leaf() -> impl Strategy<Value = Spec> {
    prop_oneof![
        panics().prop_map(|panic| Spec::Callback { id: 0, panic }),
        beh().prop_map(|beh| Spec::Try { id: 0, beh }),
        panics().prop_map(|panic| Spec::OnError { id: 0, panic }),
        panics().prop_map(|panic| Spec::OnSuccess { id: 0, panic }),
        exit_beh().prop_map(|beh| Spec::Exit { id: 0, beh }),
        (any::<bool>(), panics()).prop_map(|(report, panic)| Spec::Enter {
            id: 0,
            report,
            panic
        }),
        beh().prop_map(|beh| Spec::Closing { id: 0, beh }),
        beh().prop_map(|beh| Spec::Guard { id: 0, beh }),
        (prop::bool::weighted(0.2), exit_beh()).prop_map(|(enter_fails, beh)| Spec::Context {
            id: 0,
            enter_fails,
            beh
        }),
    ]
}

/// Any entry, nested at most three levels deep.
pub fn spec() -> impl Strategy<Value = Spec> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        let children = vec(inner, 0..4);
        prop_oneof![
            (panics(), children.clone()).prop_map(|(panic, children)| Spec::WithStack {
                id: 0,
                panic,
                children
            }),
            children
                .clone()
                .prop_map(|children| Spec::PushStack { id: 0, children }),
            children.prop_map(|children| Spec::CloseNested { id: 0, children }),
        ]
    })
}

fn op(with_stack_ops: bool) -> BoxedStrategy<Op> {
    let push = (spec(), prop::bool::weighted(0.3)).prop_map(|(spec, hold)| Op::Push { spec, hold });
    let handle_ops = prop_oneof![
        (0..8usize).prop_map(Op::Cancel),
        (0..8usize).prop_map(Op::RunNow),
    ];
    if with_stack_ops {
        prop_oneof![
            8 => push,
            2 => handle_ops,
            1 => Just(Op::Close),
            1 => Just(Op::PopAll),
        ]
        .boxed()
    } else {
        prop_oneof![8 => push, 2 => handle_ops].boxed()
    }
}

/// A random program, with every entry numbered in registration order.
pub fn program() -> impl Strategy<Value = Program> {
    program_ending(prop_oneof![
        Just(Finish::Close),
        Just(Finish::Drop),
        Just(Finish::DropDuringPanic)
    ])
}

/// A random program for an async stack: also cut-off `aclose`s.
pub fn program_async() -> impl Strategy<Value = Program> {
    program_ending(prop_oneof![
        Just(Finish::Close),
        Just(Finish::Drop),
        Just(Finish::DropDuringPanic),
        Just(Finish::CancelThenClose),
        Just(Finish::CancelThenDrop),
    ])
}

/// Longest program: shorter under Miri, where each operation costs ~1000x more.
const OPS: usize = if cfg!(miri) { 6 } else { 14 };

fn program_ending(finish: impl Strategy<Value = Finish>) -> impl Strategy<Value = Program> {
    let stack =
        (vec(op(true), 0..OPS), finish).prop_map(|(ops, finish)| Program::Stack { ops, finish });
    let scope = (
        vec(op(false), 0..OPS),
        prop_oneof![Just(Body::Ok), Just(Body::Err), Just(Body::Panic)],
    )
        .prop_map(|(ops, body)| Program::Scope { ops, body });
    prop_oneof![2 => stack, 1 => scope].prop_map(|mut program| {
        number(&mut program);
        program
    })
}

/// Gives every entry of the program a distinct id, depth first.
fn number(program: &mut Program) {
    fn walk(spec: &mut Spec, next: &mut Id) {
        *spec.id_mut() = *next;
        *next += 1;
        if let Some(children) = spec.children_mut() {
            for child in children {
                walk(child, next);
            }
        }
    }
    let ops = match program {
        Program::Stack { ops, .. } | Program::Scope { ops, .. } => ops,
    };
    let mut next = 1;
    for op in ops {
        if let Op::Push { spec, .. } = op {
            walk(spec, &mut next);
        }
    }
}

/// On an async stack, which entries are registered in their async form: the kinds that have
/// one, every other id (so each position in a program is sync in some cases, async in others).
pub fn runs_async(spec: &Spec) -> bool {
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

/// Number of cases: `PROPTEST_CASES`, else 10,000 (8 under Miri, which is ~1000x slower).
pub fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(if cfg!(miri) { 8 } else { 10_000 })
}

/// The message of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&'static str>() {
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
            let planned = message.starts_with("panic-") || message.ends_with(" panicked");
            if !planned && message != "body-panic" && message != "outer" {
                default(info);
            }
        }));
    });
}
