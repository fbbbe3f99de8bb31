//! Runs a [`Program`] against the real `AsyncExitStack`: every other entry (see
//! [`runs_async`]) is registered in its async form, whose future is pending once before it
//! acts, so each one is in flight across a poll. Driven by a minimal busy-polling executor.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::task::{Context as TaskContext, Poll, Waker};

use exitstack::Flow;
use exitstack::Local;
use exitstack::{AsyncContext, AsyncEntered, AsyncExitStack, AsyncHandle, ConcurrentGroup, Exit};
pub use exitstack_tests::executor::block_on;
use exitstack_tests::executor::{caught, yield_once};

use super::real::Token;
use super::real::{self, act, answer, in_panic, log, logged, out, ran, scope_out, seen};
use super::real::{BodyError, Held, World};
use super::SlotEnd;
use super::{runs_async, settle, Beh, Body, Event, ExitBeh, Finish, Id, Op, Out, Program, Spec};

struct AsyncCtx {
    token: Token,
    enter_fails: bool,
}

impl AsyncContext for AsyncCtx {
    type Target = Token;
    type Error = String;

    async fn enter(self) -> Result<Token, String> {
        yield_once().await;
        match self.enter_fails {
            true => Err(format!("enter-{}", self.token.id)),
            false => Ok(self.token),
        }
    }

    fn exit(
        target: Token,
        exit: &Exit<'_>,
    ) -> impl Future<Output = Result<Flow, String>> + Send + use<> {
        seen(target.id, exit);
        async move {
            yield_once().await;
            answer(target.id, target.on_exit)
        }
    }
}

/// A handle the program kept.
enum AsyncHeld<'s> {
    Sync(Held<'s>),
    Plain(AsyncHandle<'s, Local>),
    Value(AsyncEntered<'s, Token, Local>),
    /// A lease of a shared value (`enter_shared`): cancelling it drops a plain `Shared`.
    Lease(AsyncHandle<'s, Local>),
}

type Registering<'s> = Pin<Box<dyn Future<Output = Option<AsyncHeld<'s>>> + 's>>;

/// Registers `spec`, in its async form when [`runs_async`] says so; labelled `e{id}`.
fn register<'s>(stack: &'s AsyncExitStack<'static>, spec: &'s Spec) -> Registering<'s> {
    Box::pin(async move {
        let label = format!("e{}", spec.id());
        if let Spec::PushStack { children, .. } = spec {
            let inner = AsyncExitStack::new();
            for child in children {
                register(&inner, child).await;
            }
            let _ = stack.push_async_stack(inner).label(label);
            return None;
        }
        if let Spec::Group {
            limit, branches, ..
        } = spec
        {
            let mut group = ConcurrentGroup::new();
            for (n, children) in (1..).zip(branches) {
                let branch = AsyncExitStack::new();
                for child in children {
                    register(&branch, child).await;
                }
                group = group.branch(format!("b{}.{n}", spec.id()), branch);
            }
            if *limit > 0 {
                group = group.limit(*limit);
            }
            let _ = stack.push_concurrent(group).label(label);
            return None;
        }
        if let Spec::Slot { id, fills, end } = spec {
            let id = *id;
            let mut slot = stack.async_slot::<usize>().label(label);
            for (n, fill) in (1..).zip(fills) {
                let beh = fill.beh;
                let replaced = caught(slot.replace(n, move |n| async move {
                    yield_once().await;
                    log(Event::Released(id, n));
                    act(id, beh)
                }));
                let out = real::out_one(replaced.await);
                log(Event::Swapped { id, n, out });
            }
            match end {
                SlotEnd::Keep => {}
                SlotEnd::Clear => {
                    let out = real::out_one(caught(slot.clear()).await);
                    log(Event::Swapped { id, n: 0, out });
                }
                SlotEnd::Take => {
                    assert_eq!(slot.take(), (!fills.is_empty()).then_some(fills.len()));
                }
            }
            return None;
        }
        if !runs_async(spec) {
            return real::register_sync!(stack, spec).map(AsyncHeld::Sync);
        }
        let plain =
            |handle: AsyncHandle<'s, Local>| Some(AsyncHeld::Plain(handle.label(label.clone())));
        match *spec {
            Spec::Callback { id, panic } => plain(stack.push_async_callback(move || async move {
                yield_once().await;
                ran(id);
                assert!(!panic, "panic-{id}");
            })),
            Spec::Try { id, beh } => plain(stack.push_async_callback(move || async move {
                yield_once().await;
                ran(id);
                act(id, beh)
            })),
            Spec::Exit {
                id,
                beh: ExitBeh::Fail,
            } => plain(stack.push_async_exit(move |exit| {
                seen(id, exit);
                async move {
                    yield_once().await;
                    answer(id, ExitBeh::Fail)
                }
            })),
            Spec::Exit { id, beh } => plain(stack.push_async_exit(move |exit| {
                seen(id, exit);
                async move {
                    yield_once().await;
                    answer(id, beh).expect("only failing handlers use push_async_exit")
                }
            })),
            Spec::Guard { id, beh: Beh::Ok } => {
                let entered = stack.async_guard(Token::new(id), |token| async move {
                    yield_once().await;
                    ran(token.id);
                });
                Some(AsyncHeld::Value(entered.label(label)))
            }
            Spec::Guard { id, beh } => {
                let entered = stack.async_guard(Token::new(id), move |token| async move {
                    yield_once().await;
                    ran(token.id);
                    act(token.id, beh)
                });
                Some(AsyncHeld::Value(entered.label(label)))
            }
            Spec::Context {
                id,
                enter_fails,
                beh,
            } => {
                let token = Token {
                    on_exit: beh,
                    ..Token::new(id)
                };
                match stack
                    .enter_async_context(AsyncCtx { token, enter_fails })
                    .await
                {
                    Ok(entered) => Some(AsyncHeld::Value(entered.label(label))),
                    Err(error) => {
                        assert_eq!(error, format!("enter-{id}"));
                        log(Event::EnterFailed(id));
                        None
                    }
                }
            }
            Spec::TwoPhase {
                id,
                graceful,
                forceful,
            } => {
                let entered = stack.push_async_graceful(
                    Token::new(id),
                    async move |token: &mut Token| {
                        yield_once().await;
                        ran(token.id);
                        act(token.id, graceful).map_err(|error| match graceful {
                            Beh::Fail => format!("{error}"),
                            _ => unreachable!("a graceful phase fails plainly"),
                        })
                    },
                    move |token: Token| {
                        log(Event::Forced(token.id));
                        match forceful {
                            Beh::Ok => Ok(()),
                            Beh::Panic => panic!("panic-force-{}", token.id),
                            _ => Err(format!("err-force-{}", token.id)),
                        }
                    },
                );
                Some(AsyncHeld::Value(entered.label(label)))
            }
            _ => unreachable!("runs_async covers only the kinds above"),
        }
    })
}

/// Cancels a lease entry: drops a plain `Shared` (logged).
fn cancel_lease(id: Id, handle: AsyncHandle<'_, Local>) {
    let result = catch_unwind(AssertUnwindSafe(move || handle.cancel()));
    log(Event::SharedDropped(id, result.err().map(settle)));
}

/// Push, cancel and run-now, and the ops on the program's [`World`].
async fn handle_op<'s>(
    stack: &'s AsyncExitStack<'static>,
    held: &mut Vec<(Id, AsyncHeld<'s>)>,
    world: &mut World,
    op: &'s Op,
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
                    let shared = real::new_shared(*id, *beh, *async_teardown);
                    let handle = stack.enter_shared(shared.clone());
                    held.push((*id, AsyncHeld::Lease(handle.label(format!("e{id}")))));
                    shared
                }
                (false, false) => stack.share(*id, real::shared_teardown(*beh)),
                (false, true) => stack.share_async(*id, real::shared_async_teardown(*beh)),
            };
            world.lease(*id, leases, *keep, shared);
        }
        Op::EndExtra(index) => world.end_extra(*index),
        Op::LetGo { index, release } => world.let_go(*index, *release),
        Op::Push { spec, hold } => {
            if let Some(handle) = register(stack, spec).await {
                if *hold {
                    held.push((spec.id(), handle));
                }
            }
        }
        Op::Cancel(index) if !held.is_empty() => match held.remove(index % held.len()) {
            (id, AsyncHeld::Sync(handle)) => real::cancel(id, handle),
            (id, AsyncHeld::Lease(handle)) => cancel_lease(id, handle),
            (_, AsyncHeld::Plain(handle)) => handle.cancel(),
            (_, AsyncHeld::Value(entered)) => entered.cancel().on_drop = None,
        },
        Op::RunNow(index) if !held.is_empty() => {
            let (id, handle) = held.remove(index % held.len());
            let result = match handle {
                AsyncHeld::Sync(handle) => real::run_now(handle),
                AsyncHeld::Plain(handle) | AsyncHeld::Lease(handle) => {
                    out(caught(handle.release()).await)
                }
                AsyncHeld::Value(entered) => out(caught(entered.release()).await),
            };
            log(Event::RunNow(id, result));
        }
        // Inside a `Drop` during a panic there is no `.await`: an async run is driven there
        // by its own `block_on`.
        Op::InPanic { index, run } if !held.is_empty() => {
            let (id, handle) = held.remove(index % held.len());
            in_panic(move || {
                let result = match (handle, run) {
                    (AsyncHeld::Sync(handle), true) => real::run_now(handle),
                    (AsyncHeld::Plain(handle) | AsyncHeld::Lease(handle), true) => {
                        out(block_on(caught(handle.release())))
                    }
                    (AsyncHeld::Value(entered), true) => out(block_on(caught(entered.release()))),
                    (AsyncHeld::Sync(handle), false) => return real::cancel(id, handle),
                    (AsyncHeld::Lease(handle), false) => return cancel_lease(id, handle),
                    (AsyncHeld::Plain(handle), false) => return handle.cancel(),
                    (AsyncHeld::Value(entered), false) => return entered.cancel().on_drop = None,
                };
                log(Event::RunNow(id, result));
            });
        }
        Op::Cancel(_) | Op::RunNow(_) | Op::InPanic { .. } => {}
        Op::Close | Op::PopAll => unreachable!("handled by the stack program"),
    }
}

async fn aclose(stack: &mut AsyncExitStack<'static>) -> Out {
    out(caught(stack.aclose()).await)
}

/// Polls `aclose` once, then drops it: the result if it finished in that poll.
fn poll_once(stack: &mut AsyncExitStack<'static>) -> Option<Out> {
    let mut close = pin!(caught(stack.aclose()));
    match close
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
    {
        Poll::Ready(result) => Some(out(result)),
        Poll::Pending => None,
    }
}

fn drop_caught(stack: AsyncExitStack<'static>, during_panic: bool) -> Event {
    let result = catch_unwind(AssertUnwindSafe(move || {
        let _stack = stack;
        if during_panic {
            panic!("outer");
        }
    }));
    Event::Dropped(result.err().map(settle))
}

/// The timer of [`super::Hostile::timer_panics`]: panics when started.
fn panicking_timer(_: std::time::Duration) -> std::future::Pending<()> {
    panic!("timer-panic")
}

async fn stack_program(ops: &[Op], finish: Finish, timer_panics: bool, world: &mut World) {
    let mut stack = AsyncExitStack::new();
    if timer_panics {
        stack = stack.with_time_limit(std::time::Duration::from_secs(3600), panicking_timer);
    }
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
                handle_op(&stack, &mut held, world, op).await;
            }
        }
        match rest.get(end) {
            Some(Op::Close) => log(Event::Closed(aclose(&mut stack).await)),
            Some(_) => moved.push(stack.pop_all()),
            None => break,
        }
        rest = &rest[end + 1..];
    }
    match finish {
        Finish::Close => log(Event::Closed(aclose(&mut stack).await)),
        Finish::Drop => log(drop_caught(stack, false)),
        Finish::DropDuringPanic => log(drop_caught(stack, true)),
        Finish::CancelThenClose => {
            if let Some(out) = poll_once(&mut stack) {
                log(Event::Closed(out));
            }
            log(Event::Closed(aclose(&mut stack).await));
        }
        Finish::CancelThenDrop => {
            if let Some(out) = poll_once(&mut stack) {
                log(Event::Closed(out));
            }
            log(drop_caught(stack, false));
        }
        Finish::CloseWith => {
            let closed = caught(stack.aclose_with(BodyError)).await;
            log(Event::Scope(scope_out(closed.map(Err))));
        }
    }
    for mut stack in moved {
        log(Event::Moved(aclose(&mut stack).await));
    }
}

thread_local! {
    /// Set by a cancelled scope's body once it has done its ops and waits forever.
    static PARKED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// The scope function; with [`Body::Cancelled`], the body does its ops and then waits forever,
/// and the scope future is dropped there (its drop logged as [`Event::Dropped`]).
fn scope_program(ops: &[Op], body: Body, world: &mut World) {
    PARKED.with(|parked| parked.set(false));
    let mut scope = Box::pin(caught(AsyncExitStack::scope(async |stack| {
        let stack: &AsyncExitStack<'static> = stack;
        let mut held = Vec::new();
        for op in ops {
            handle_op(stack, &mut held, world, op).await;
        }
        drop(held);
        match body {
            Body::Ok => Ok(7),
            Body::Err => Err(BodyError),
            Body::Panic => panic!("body-panic"),
            Body::Cancelled => {
                PARKED.with(|parked| parked.set(true));
                std::future::pending().await
            }
        }
    })));
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(result) = scope.as_mut().poll(&mut cx) {
            log(Event::Scope(scope_out(result)));
            return;
        }
        if PARKED.with(std::cell::Cell::get) {
            let dropped = catch_unwind(AssertUnwindSafe(move || drop(scope)));
            log(Event::Dropped(dropped.err().map(settle)));
            return;
        }
    }
}

/// Runs `program` on a real `AsyncExitStack`; returns the log it wrote.
pub fn run(program: &Program) -> Vec<Event> {
    let hostile = program.hostile();
    logged(hostile.reporter_panics_at, || {
        let mut world = World::new(program.extras());
        match program {
            Program::Stack { ops, finish, .. } => block_on(stack_program(
                ops,
                *finish,
                hostile.timer_panics,
                &mut world,
            )),
            Program::Scope { ops, body, .. } => scope_program(ops, *body, &mut world),
        }
        world.finish();
    })
}
