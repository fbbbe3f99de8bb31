//! Runs a [`Program`] against the real `ExitStack` and returns the event log it wrote: the log
//! and the reporter that writes to it, what user code does, the ops and the programs. The
//! entries registered are `entries.rs`'s, the shared values and slots `leases.rs`'s.

use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::{report, BoxError, Exit, ExitStack, Flow, UnwindError};

mod entries;
mod leases;

pub(super) use entries::register_sync;
pub(super) use entries::{build, held_plain, held_value, register, Ctx, Held, Token};
pub(super) use leases::{new_shared, out_one, shared_async_teardown, shared_teardown, World};

use super::{drop_errors_quietly, settle, shown, shown_error, BadDisplay, BadDrop, BadPayload};
use super::{Beh, Body, Event, ExitBeh, Finish, Id, Op, Out, Program, ScopeOut, Spec};

thread_local! {
    static LOG: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

pub(super) fn log(event: Event) {
    LOG.with(|log| log.borrow_mut().push(event));
}

pub(super) fn ran(id: Id) {
    log(Event::Ran(id));
}

pub(super) fn seen(id: Id, exit: &Exit<'_>) {
    log(Event::Seen {
        id,
        error: exit.error().map(|error| shown(error)),
        panicking: exit.is_panicking(),
        ending: exit.ending(),
    });
}

pub(super) fn act(id: Id, beh: Beh) -> Result<(), BoxError> {
    match beh {
        Beh::Ok => Ok(()),
        Beh::Fail => Err(format!("err-{id}").into()),
        Beh::Panic => panic!("panic-{id}"),
        Beh::PanicBadPayload => std::panic::panic_any(BadPayload(id)),
        Beh::FailBadDisplay => Err(Box::new(BadDisplay(id))),
        Beh::FailBadDrop => Err(Box::new(BadDrop(id))),
    }
}

pub(super) fn answer(id: Id, beh: ExitBeh) -> Result<Flow, String> {
    match beh {
        ExitBeh::Propagate => Ok(Flow::Propagate),
        ExitBeh::Suppress => Ok(Flow::Suppress),
        ExitBeh::Fail => Err(format!("err-{id}")),
        ExitBeh::Panic => panic!("panic-{id}"),
    }
}

pub(super) fn out(result: std::thread::Result<Result<(), UnwindError>>) -> Out {
    match result {
        Ok(Ok(())) => Out::Ok,
        Ok(Err(errors)) => Out::Errors(shown_all(errors)),
        Err(payload) => Out::Panic(settle(payload)),
    }
}

/// Every error, displayed safely, then dropped inside `catch_unwind` (an error's `Drop` may
/// panic: that is the harness's own business, not logged).
pub(super) fn shown_all(errors: UnwindError) -> Vec<String> {
    let shown = errors.iter().map(shown_error).collect();
    drop_errors_quietly(errors);
    shown
}

/// Runs `f` inside a `Drop` that runs while the thread panics (`outer`, caught here).
pub(super) fn in_panic(f: impl FnOnce()) {
    struct OnDrop<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for OnDrop<F> {
        fn drop(&mut self) {
            assert!(std::thread::panicking());
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    let caught = catch_unwind(AssertUnwindSafe(|| {
        let _on_drop = OnDrop(Some(f));
        panic!("outer");
    }));
    assert_eq!(settle(caught.expect_err("it panicked")), "outer");
}

fn close(stack: &mut ExitStack<'static>) -> Out {
    out(catch_unwind(AssertUnwindSafe(|| stack.close())))
}

/// Cancels a held entry; a value taken back is not released by the stack, a lease is dropped
/// (logged).
pub(super) fn cancel(id: Id, held: Held<'_>) {
    match held {
        Held::Plain(handle) => handle.cancel(),
        Held::Value(entered) => entered.cancel().on_drop = None,
        Held::Lease(handle) => {
            let result = catch_unwind(AssertUnwindSafe(move || handle.cancel()));
            log(Event::SharedDropped(id, result.err().map(settle)));
        }
    }
}

/// Runs a held entry now.
pub(super) fn run_now(held: Held<'_>) -> Out {
    out(match held {
        Held::Plain(handle) | Held::Lease(handle) => {
            catch_unwind(AssertUnwindSafe(|| handle.release()))
        }
        Held::Value(entered) => catch_unwind(AssertUnwindSafe(|| entered.release())),
    })
}

/// Push, cancel and run-now, and the ops on the program's [`World`].
pub(super) fn handle_op<'s>(
    stack: &'s ExitStack<'static>,
    held: &mut Vec<(Id, Held<'s>)>,
    world: &mut World,
    op: &Op,
) {
    match op {
        Op::Push {
            spec:
                Spec::Share {
                    id,
                    beh,
                    leases,
                    keep,
                    async_teardown,
                },
            hold,
        } => {
            let shared = match (hold, async_teardown) {
                (true, _) => {
                    let shared = new_shared(*id, *beh, *async_teardown);
                    let handle = stack.enter_shared(shared.clone());
                    held.push((*id, Held::Lease(handle.label(format!("e{id}")))));
                    shared
                }
                (false, false) => stack.share(*id, shared_teardown(*beh)),
                // `share` takes a sync teardown: an unlabelled `enter_shared`.
                (false, true) => {
                    let shared = new_shared(*id, *beh, true);
                    let _ = stack.enter_shared(shared.clone());
                    shared
                }
            };
            world.lease(*id, leases, *keep, shared);
        }
        Op::EndExtra(index) => world.end_extra(*index),
        Op::LetGo { index, release } => world.let_go(*index, *release),
        Op::Push { spec, hold } => {
            if let Some(handle) = register(stack, spec) {
                if *hold {
                    held.push((spec.id(), handle));
                }
            }
        }
        Op::Cancel(index) if !held.is_empty() => {
            let (id, handle) = held.remove(index % held.len());
            cancel(id, handle);
        }
        Op::RunNow(index) if !held.is_empty() => {
            let (id, handle) = held.remove(index % held.len());
            log(Event::RunNow(id, run_now(handle)));
        }
        Op::InPanic { index, run } if !held.is_empty() => {
            let (id, handle) = held.remove(index % held.len());
            in_panic(move || match run {
                true => log(Event::RunNow(id, run_now(handle))),
                false => cancel(id, handle),
            });
        }
        Op::Cancel(_) | Op::RunNow(_) | Op::InPanic { .. } => {}
        Op::Close | Op::PopAll => unreachable!("handled by the stack program"),
    }
}

#[derive(Debug)]
pub(super) struct BodyError;

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("body")
    }
}

impl std::error::Error for BodyError {}

fn stack_program(ops: &[Op], finish: Finish, world: &mut World) {
    let mut stack = ExitStack::new();
    let mut moved = Vec::new();
    let mut rest = ops;
    loop {
        let end = rest
            .iter()
            .position(|op| matches!(op, Op::Close | Op::PopAll))
            .unwrap_or(rest.len());
        {
            let mut held = Vec::new();
            for op in &rest[..end] {
                handle_op(&stack, &mut held, world, op);
            }
        }
        match rest.get(end) {
            Some(Op::Close) => log(Event::Closed(close(&mut stack))),
            Some(_) => moved.push(stack.pop_all()),
            None => break,
        }
        rest = &rest[end + 1..];
    }
    match finish {
        Finish::Close => log(Event::Closed(close(&mut stack))),
        Finish::Drop => {
            let result = catch_unwind(AssertUnwindSafe(move || drop(stack)));
            log(Event::Dropped(result.err().map(settle)));
        }
        Finish::DropDuringPanic => {
            let result = catch_unwind(AssertUnwindSafe(move || {
                let _stack = stack;
                panic!("outer");
            }));
            log(Event::Dropped(result.err().map(settle)));
        }
        Finish::CloseWith => {
            let closed = catch_unwind(AssertUnwindSafe(|| stack.close_with(BodyError)));
            log(Event::Scope(scope_out(closed.map(Err))));
        }
        Finish::CancelThenClose | Finish::CancelThenDrop => unreachable!("async stacks only"),
    }
    for mut stack in moved {
        log(Event::Moved(close(&mut stack)));
    }
}

fn scope_program(ops: &[Op], body: Body, world: &mut World) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        ExitStack::scope(|stack| {
            let mut held = Vec::new();
            for op in ops {
                handle_op(stack, &mut held, world, op);
            }
            drop(held);
            match body {
                Body::Ok => Ok(7),
                Body::Err => Err(BodyError),
                Body::Panic => panic!("body-panic"),
                Body::Cancelled => unreachable!("async scopes only"),
            }
        })
    }));
    log(Event::Scope(scope_out(result)));
}

/// What a scope returned (or the panic it resumed).
pub(super) fn scope_out(
    result: std::thread::Result<Result<i32, exitstack::ScopeError<BodyError>>>,
) -> ScopeOut {
    match result {
        Err(payload) => ScopeOut::Panic(settle(payload)),
        Ok(Ok(7)) => ScopeOut::Completed,
        Ok(Ok(other)) => panic!("scope returned {other}, not 7"),
        Ok(Err(error)) if error.is_suppressed() => ScopeOut::Suppressed,
        Ok(Err(error)) => {
            let (body, suppressed, cleanup) = error.into_parts();
            ScopeOut::Failed {
                body: body.is_some(),
                suppressed: suppressed.is_some(),
                cleanup: cleanup.map(shown_all).unwrap_or_default(),
            }
        }
    }
}

/// Runs `program` on the real stack, with a reporter that writes to the log.
pub fn run(program: &Program) -> Vec<Event> {
    logged(program.hostile().reporter_panics_at, || {
        let mut world = World::new(program.extras());
        match program {
            Program::Stack { ops, finish, .. } => stack_program(ops, *finish, &mut world),
            Program::Scope { ops, body, .. } => scope_program(ops, *body, &mut world),
        }
        world.finish();
    })
}

/// Runs `body` with a fresh log and a reporter that writes to it (formatting errors safely);
/// returns the log. With `panics_at`, the reporter panics on that report (counted from 1)
/// instead of writing it.
pub(super) fn logged(panics_at: Option<usize>, body: impl FnOnce()) -> Vec<Event> {
    LOG.with(|log| log.borrow_mut().clear());
    let count = std::sync::atomic::AtomicUsize::new(0);
    report::with_reporter(
        move |report| {
            let nth = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if panics_at == Some(nth) {
                panic!("reporter-panic");
            }
            log(Event::Report(report.reason(), shown_error(report.error())));
        },
        body,
    );
    LOG.with(|log| log.take())
}
