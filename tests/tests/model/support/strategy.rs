//! The `proptest` strategies that generate programs, hostile values included (each kind gated
//! by its constant in the parent module).

use proptest::collection::vec;
use proptest::prelude::*;

use super::*;

/// `weight` if `on`, else 0 (the alternative is never chosen).
const fn gated(on: bool, weight: u32) -> u32 {
    if on {
        weight
    } else {
        0
    }
}

/// What a fallible entry does: hostile values at about 2% each.
pub fn beh() -> impl Strategy<Value = Beh> {
    prop_oneof![
        50 => Just(Beh::Ok),
        30 => Just(Beh::Fail),
        10 => Just(Beh::Panic),
        gated(HOSTILE_PAYLOADS, 2) => Just(Beh::PanicBadPayload),
        gated(HOSTILE_DISPLAY, 2) => Just(Beh::FailBadDisplay),
        gated(HOSTILE_ERROR_DROP, 2) => Just(Beh::FailBadDrop),
    ]
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
        (
            any::<bool>(),
            panics(),
            prop::bool::weighted(if BORROWING_DROPS { 0.1 } else { 0.0 })
        )
            .prop_map(|(report, panic, borrowing)| Spec::Enter {
                id: 0,
                report,
                panic,
                borrowing,
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
        10 => (0..8usize).prop_map(Op::Cancel),
        10 => (0..8usize).prop_map(Op::RunNow),
        gated(HANDLES_IN_PANIC, 2) => (0..8usize, any::<bool>())
            .prop_map(|(index, run)| Op::InPanic { index, run }),
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
    program_with(
        prop_oneof![
            Just(Finish::Close),
            Just(Finish::Drop),
            Just(Finish::DropDuringPanic),
            Just(Finish::CancelThenClose),
            Just(Finish::CancelThenDrop),
        ],
        true,
    )
}

/// Longest program: shorter under Miri, where each operation costs ~1000x more.
const OPS: usize = if cfg!(miri) { 6 } else { 14 };

/// Hostile surroundings: a panicking reporter in ~5% of programs, and (for async stack
/// programs, `timer`) a panicking timer in ~5%.
fn hostile(timer: bool) -> impl Strategy<Value = Hostile> {
    let reporter = prop_oneof![
        19 => Just(None),
        gated(HOSTILE_REPORTER, 1) => (1..4usize).prop_map(Some),
    ];
    let timer = prop::bool::weighted(if timer && PANICKING_TIMER { 0.05 } else { 0.0 });
    (reporter, timer).prop_map(|(reporter_panics_at, timer_panics)| Hostile {
        reporter_panics_at,
        timer_panics,
    })
}

fn program_ending(finish: impl Strategy<Value = Finish>) -> impl Strategy<Value = Program> {
    program_with(finish, false)
}

fn program_with(
    finish: impl Strategy<Value = Finish>,
    timer: bool,
) -> impl Strategy<Value = Program> {
    let stack =
        (vec(op(true), 0..OPS), finish, hostile(timer)).prop_map(|(ops, finish, hostile)| {
            Program::Stack {
                ops,
                finish,
                hostile,
            }
        });
    let scope = (
        vec(op(false), 0..OPS),
        prop_oneof![Just(Body::Ok), Just(Body::Err), Just(Body::Panic)],
        hostile(false),
    )
        .prop_map(|(ops, body, hostile)| Program::Scope { ops, body, hostile });
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
