//! Runs a [`Program`] against the real `ExitStack` and returns the event log it wrote.

use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::{report, BoxError, CleanupError, Context, Entered, Exit, ExitStack, Flow, Handle};
use exitstack::{Close, Shared, UnwindError};

use super::{
    drop_errors_quietly, drop_quietly, settle, shown, shown_error, BadDisplay, BadDrop, BadPayload,
    Spec,
};
use super::{Beh, Body, Event, ExitBeh, ExtraEnd, ExtraLease, Fill, Finish, Id, Op, Out};
use super::{Program, ScopeOut, SlotEnd};

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

/// The value entered by `enter`, `enter_closing`, `guard` and `enter_context`.
pub(super) struct Token {
    pub(super) id: Id,
    /// For `enter`: whether `Drop` reports an error, whether it then panics, and whether it
    /// first builds and cancels stacks borrowing its locals. `None` once released another way
    /// (or taken back by `cancel`).
    pub(super) on_drop: Option<(bool, bool, bool)>,
    /// For `enter_closing`.
    pub(super) on_close: Beh,
    /// For `enter_context`.
    pub(super) on_exit: ExitBeh,
}

impl Token {
    pub(super) fn new(id: Id) -> Self {
        Token {
            id,
            on_drop: None,
            on_close: Beh::Ok,
            on_exit: ExitBeh::Propagate,
        }
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        if let Some((report, panic, borrowing)) = self.on_drop.take() {
            ran(self.id);
            if borrowing {
                borrowing_stacks(self.id);
            }
            if report {
                report::error_in_drop(CleanupError::new(format!("err-{}", self.id)));
            }
            if panic {
                panic!("panic-{}", self.id);
            }
        }
    }
}

/// A value that borrows a local of the `Drop` that made it, and reads it when dropped.
struct Borrower<'l>(&'l str, usize);

impl Drop for Borrower<'_> {
    fn drop(&mut self) {
        assert_eq!(
            self.0.len(),
            self.1,
            "a borrowed local changed under its borrower"
        );
    }
}

/// Builds, fills and cancels stacks whose entries borrow this function's locals: everything
/// is dropped before the locals, without running (the use-after-free regression; Miri checks
/// it). Leaves no trace in the log.
fn borrowing_stacks(id: Id) {
    let local = format!("local-{id}");
    let len = local.len();
    let outer = ExitStack::new();
    {
        let inner = ExitStack::new();
        inner.callback(|| panic!("a cancelled entry ran: {}", local.len()));
        inner.enter(Borrower(&local, len));
        let deeper = ExitStack::new();
        deeper.enter(Borrower(&local, len));
        deeper.guard(Borrower(&local, len), |_| panic!("a cancelled guard ran"));
        inner.push_stack(deeper);
        outer.push_stack(inner).cancel();
    }
    outer.enter(Borrower(&local, len)).cancel();
    let kept = ExitStack::new();
    kept.enter(Borrower(&local, len));
    outer.push_stack(kept);
    drop(outer); // runs (drops) the last borrower, reports nothing
}

impl Close for Token {
    type Error = BoxError;
    fn close(self) -> Result<(), BoxError> {
        ran(self.id);
        act(self.id, self.on_close)
    }
}

/// A context over a token, whose `enter` may fail.
pub(super) struct Ctx {
    pub(super) token: Token,
    pub(super) enter_fails: bool,
}

impl Context for Ctx {
    type Target = Token;
    type Error = String;
    fn enter(self) -> Result<Token, String> {
        match self.enter_fails {
            true => Err(format!("enter-{}", self.token.id)),
            false => Ok(self.token),
        }
    }
    fn exit(target: Token, exit: &Exit<'_>) -> Result<Flow, String> {
        seen(target.id, exit);
        answer(target.id, target.on_exit)
    }
}

/// A handle the program kept.
pub(super) enum Held<'s> {
    Plain(Handle<'s>),
    Value(Entered<'s, Token>),
    /// A lease of a shared value (`enter_shared`): cancelling it drops a plain `Shared`.
    Lease(Handle<'s>),
}

/// A kept handle, labelled.
pub(super) fn held_plain<'s>(handle: Handle<'s>, label: &str) -> Option<Held<'s>> {
    Some(Held::Plain(handle.label(label.to_owned())))
}

/// A kept handle to a value, labelled.
pub(super) fn held_value<'s>(entered: Entered<'s, Token>, label: &str) -> Option<Held<'s>> {
    Some(Held::Value(entered.label(label.to_owned())))
}

/// Registers `spec` on `$stack` (a sync or an async stack: both have the sync registrations),
/// labelled `e{id}`; `None` when nothing can be held.
macro_rules! register_sync {
    ($stack:expr, $spec:expr) => {{
        #[allow(unused_imports)]
        use $crate::support::real::*;
        #[allow(unused_imports)]
        use $crate::support::{Beh, Event, ExitBeh, Spec};
        let (stack, entry_spec) = ($stack, $spec);
        let label = format!("e{}", entry_spec.id());
        let plain = |handle| held_plain(handle, &label);
        let value = |entered| held_value(entered, &label);
        match entry_spec.clone() {
            Spec::Callback { id, panic } => plain(stack.callback(move || {
                ran(id);
                assert!(!panic, "panic-{id}");
            })),
            Spec::Try { id, beh } => plain(stack.callback(move || {
                ran(id);
                act(id, beh)
            })),
            Spec::OnError { id, panic } => plain(stack.callback_on_error(move || {
                ran(id);
                assert!(!panic, "panic-{id}");
            })),
            Spec::OnSuccess { id, panic } => plain(stack.callback_on_success(move || {
                ran(id);
                assert!(!panic, "panic-{id}");
            })),
            Spec::Exit { id, beh } => plain(stack.push_exit(move |exit| {
                seen(id, exit);
                answer(id, beh)
            })),
            Spec::Enter {
                id,
                report,
                panic,
                borrowing,
            } => value(stack.enter(Token {
                on_drop: Some((report, panic, borrowing)),
                ..Token::new(id)
            })),
            Spec::Closing { id, beh } => value(stack.enter_closing(Token {
                on_close: beh,
                ..Token::new(id)
            })),
            Spec::Guard { id, beh: Beh::Ok } => value(stack.guard(Token::new(id), |token| {
                ran(token.id);
            })),
            Spec::Guard { id, beh } => value(stack.guard(Token::new(id), move |token| {
                ran(token.id);
                act(token.id, beh)
            })),
            Spec::Context {
                id,
                enter_fails,
                beh,
            } => {
                let context = Ctx {
                    token: Token {
                        on_exit: beh,
                        ..Token::new(id)
                    },
                    enter_fails,
                };
                match stack.enter_context(context) {
                    Ok(entered) => value(entered),
                    Err(error) => {
                        assert_eq!(error, format!("enter-{id}"));
                        log(Event::EnterFailed(id));
                        None
                    }
                }
            }
            Spec::WithStack {
                id,
                panic,
                children,
            } => plain(stack.callback_with_stack(move |stack| {
                ran(id);
                for child in &children {
                    register(stack, child);
                }
                assert!(!panic, "panic-{id}");
            })),
            Spec::PushStack { children, .. } => {
                let _ = stack.push_stack(build(&children)).label(label);
                None
            }
            Spec::CloseNested { children, .. } => {
                let mut nested = build(&children);
                let _ = stack.callback(move || nested.close()).label(label);
                None
            }
            Spec::TwoPhase { .. } | Spec::Group { .. } => unreachable!("async forms only"),
            Spec::Share { .. } | Spec::Slot { .. } => unreachable!("registered by the caller"),
        }
    }};
}
pub(super) use register_sync;

/// Registers `spec` on `stack`, labelled `e{id}`; `None` when nothing can be held.
pub(super) fn register<'s>(stack: &'s ExitStack<'static>, spec: &Spec) -> Option<Held<'s>> {
    if let Spec::Slot { id, fills, end } = spec {
        fill_slot(stack, *id, fills, *end);
        return None;
    }
    register_sync!(stack, spec)
}

/// The teardown of slot `id`'s values, or of shared value `id`.
pub(super) fn slot_teardown(id: Id, beh: Beh) -> impl FnOnce(usize) -> Result<(), BoxError> {
    move |n| {
        log(Event::Released(id, n));
        act(id, beh)
    }
}

/// What a `replace` or `clear` returned (or the panic that came out of it).
pub(super) fn out_one(result: std::thread::Result<Result<(), CleanupError>>) -> Out {
    match result {
        Ok(Ok(())) => Out::Ok,
        Ok(Err(error)) => {
            let shown = shown_error(&error);
            drop_quietly(error);
            Out::Errors(vec![shown])
        }
        Err(payload) => Out::Panic(settle(payload)),
    }
}

/// Runs `f` inside a `Drop` during a panic when `panicking` (directly if the thread already
/// panics).
pub(super) fn maybe_in_panic(panicking: bool, f: impl FnOnce()) {
    match panicking && !std::thread::panicking() {
        true => in_panic(f),
        false => f(),
    }
}

/// Takes a slot on `stack`, labelled `e{id}`, fills it and ends it (see [`Spec::Slot`]).
fn fill_slot(stack: &ExitStack<'static>, id: Id, fills: &[Fill], end: SlotEnd) {
    let mut slot = stack.slot::<usize>().label(format!("e{id}"));
    for (n, fill) in (1..).zip(fills) {
        maybe_in_panic(fill.in_panic, || {
            let teardown = slot_teardown(id, fill.beh);
            let result = catch_unwind(AssertUnwindSafe(|| slot.replace(n, teardown)));
            log(Event::Swapped {
                id,
                n,
                out: out_one(result),
            });
        });
    }
    match end {
        SlotEnd::Keep => {}
        SlotEnd::Clear => {
            let result = catch_unwind(AssertUnwindSafe(|| slot.clear()));
            let out = out_one(result);
            log(Event::Swapped { id, n: 0, out });
        }
        // The last value stays in the slot even if releasing the one before it failed.
        SlotEnd::Take => assert_eq!(slot.take(), (!fills.is_empty()).then_some(fills.len())),
    }
}

/// The teardown of shared value `id`: logs [`Event::Ran`], then does `beh`.
pub(super) fn shared_teardown(
    beh: Beh,
) -> impl FnOnce(Id, &exitstack::Exit<'_>) -> Result<(), BoxError> + Send {
    move |id, _| {
        ran(id);
        act(id, beh)
    }
}

/// The future of an async teardown in the model.
type TeardownFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BoxError>> + Send>>;

/// The async teardown of shared value `id`: pending once, then as [`shared_teardown`].
pub(super) fn shared_async_teardown(
    beh: Beh,
) -> impl FnOnce(Id, &exitstack::Exit<'_>) -> TeardownFuture + Send {
    move |id, _| {
        Box::pin(async move {
            exitstack_tests::executor::yield_once().await;
            ran(id);
            act(id, beh)
        })
    }
}

/// A shared value `id` (see [`Spec::Share`]), not yet leased to any stack.
pub(super) fn new_shared(id: Id, beh: Beh, async_teardown: bool) -> Shared<Id> {
    match async_teardown {
        true => Shared::new_async(id, shared_async_teardown(beh)),
        false => Shared::new(id, shared_teardown(beh)),
    }
}

/// A value entered on an extra stack that holds a plain lease (dropped with it).
struct Holder(#[allow(dead_code)] Shared<Id>);

/// Drops a plain `Shared` of value `id` (logged, with the panic that came out).
fn drop_shared(id: Id, shared: Shared<Id>) {
    let result = catch_unwind(AssertUnwindSafe(move || drop(shared)));
    log(Event::SharedDropped(id, result.err().map(settle)));
}

/// The extra stacks of a program and the `Shared`s it keeps (see [`Spec::Share`]).
pub(super) struct World {
    extras: Vec<Option<(ExitStack<'static>, ExtraEnd)>>,
    kept: Vec<(Id, Shared<Id>)>,
}

impl World {
    pub(super) fn new(ends: &[ExtraEnd]) -> Self {
        World {
            extras: ends
                .iter()
                .map(|end| Some((ExitStack::new(), *end)))
                .collect(),
            kept: Vec::new(),
        }
    }

    /// Gives leases of `shared` to the extra stacks, then keeps or drops it.
    pub(super) fn lease(&mut self, id: Id, leases: &[ExtraLease], keep: bool, shared: Shared<Id>) {
        for lease in leases {
            let count = self.extras.len();
            let Some(Some((extra, _))) = self.extras.get(lease.stack % count.max(1)) else {
                continue;
            };
            match lease.holder {
                true => drop(extra.enter(Holder(shared.clone())).label(format!("e{id}"))),
                false => drop(extra.enter_shared(shared.clone()).label(format!("e{id}"))),
            }
        }
        match keep {
            true => self.kept.push((id, shared)),
            false => drop(shared), // never the last: the stack's entry holds one
        }
    }

    /// [`Op::EndExtra`].
    pub(super) fn end_extra(&mut self, index: usize) {
        if self.extras.is_empty() {
            return;
        }
        let k = index % self.extras.len();
        if let Some((mut extra, end)) = self.extras[k].take() {
            match end {
                ExtraEnd::Close => log(Event::ExtraClosed(k, close(&mut extra))),
                ExtraEnd::Drop => {
                    let result = catch_unwind(AssertUnwindSafe(move || drop(extra)));
                    log(Event::ExtraDropped(k, result.err().map(settle)));
                }
            }
        }
    }

    /// [`Op::LetGo`].
    pub(super) fn let_go(&mut self, index: usize, release: bool) {
        if self.kept.is_empty() {
            return;
        }
        let (id, shared) = self.kept.remove(index % self.kept.len());
        match release {
            true => {
                let result = catch_unwind(AssertUnwindSafe(move || shared.release()));
                log(Event::SharedReleased(id, out_one(result)));
            }
            false => drop_shared(id, shared),
        }
    }

    /// Ends the extra stacks left, in order, then drops the `Shared`s kept, in order.
    pub(super) fn finish(mut self) {
        for k in 0..self.extras.len() {
            self.end_extra(k);
        }
        for (id, shared) in std::mem::take(&mut self.kept) {
            drop_shared(id, shared);
        }
    }
}

pub(super) fn build(children: &[Spec]) -> ExitStack<'static> {
    let stack = ExitStack::new();
    for child in children {
        register(&stack, child);
    }
    stack
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
