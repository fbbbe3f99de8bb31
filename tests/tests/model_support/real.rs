//! Runs a [`Program`] against the real `ExitStack` and returns the event log it wrote.

use std::cell::RefCell;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::{report, CleanupError, Context, Entered, Exit, ExitStack, Flow, Handle};
use exitstack::{Close, Outcome, UnwindError};

use super::Spec;
use super::{panic_message, Beh, Body, Event, ExitBeh, Finish, Id, Op, Out, Program, ScopeOut};

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
        error: exit.error().map(ToString::to_string),
        panicking: exit.is_panicking(),
        ending: exit.ending(),
    });
}

pub(super) fn act(id: Id, beh: Beh) -> Result<(), String> {
    match beh {
        Beh::Ok => Ok(()),
        Beh::Fail => Err(format!("err-{id}")),
        Beh::Panic => panic!("panic-{id}"),
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
    /// For `enter`: whether `Drop` reports an error and whether it then panics. `None` once
    /// released another way (or taken back by `cancel`).
    pub(super) on_drop: Option<(bool, bool)>,
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
        if let Some((report, panic)) = self.on_drop.take() {
            ran(self.id);
            if report {
                report::from_drop(CleanupError::new(format!("err-{}", self.id)));
            }
            if panic {
                panic!("panic-{}", self.id);
            }
        }
    }
}

impl Close for Token {
    type Error = String;
    fn close(self) -> Result<(), String> {
        ran(self.id);
        act(self.id, self.on_close)
    }
}

struct Ctx {
    token: Token,
    enter_fails: bool,
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
}

/// Registers `spec` on `stack`, labelled `e{id}`; `None` when nothing can be held.
pub(super) fn register<'s>(stack: &'s ExitStack<'static>, spec: &Spec) -> Option<Held<'s>> {
    let label = format!("e{}", spec.id());
    let plain = |handle: Handle<'s>| Some(Held::Plain(handle.label(label.clone())));
    let value = |entered: Entered<'s, Token>| Some(Held::Value(entered.label(label.clone())));
    match spec.clone() {
        Spec::Callback { id, panic } => plain(stack.callback(move || {
            ran(id);
            assert!(!panic, "panic-{id}");
        })),
        Spec::Try { id, beh } => plain(stack.try_callback(move || {
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
        Spec::Exit { id, beh } if beh == ExitBeh::Fail => plain(stack.try_push_exit(move |exit| {
            seen(id, exit);
            answer(id, beh)
        })),
        Spec::Exit { id, beh } => plain(stack.push_exit(move |exit| {
            seen(id, exit);
            answer(id, beh).expect("only failing handlers use try_push_exit")
        })),
        Spec::Enter { id, report, panic } => value(stack.enter(Token {
            on_drop: Some((report, panic)),
            ..Token::new(id)
        })),
        Spec::Closing { id, beh } => value(stack.enter_closing(Token {
            on_close: beh,
            ..Token::new(id)
        })),
        Spec::Guard { id, beh: Beh::Ok } => value(stack.guard(Token::new(id), |token| {
            ran(token.id);
        })),
        Spec::Guard { id, beh } => value(stack.try_guard(Token::new(id), move |token| {
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
            let _ = stack.try_callback(move || nested.close()).label(label);
            None
        }
    }
}

fn build(children: &[Spec]) -> ExitStack<'static> {
    let stack = ExitStack::new();
    for child in children {
        register(&stack, child);
    }
    stack
}

pub(super) fn out(result: std::thread::Result<Result<(), UnwindError>>) -> Out {
    match result {
        Ok(Ok(())) => Out::Ok,
        Ok(Err(errors)) => Out::Errors(errors.iter().map(ToString::to_string).collect()),
        Err(payload) => Out::Panic(panic_message(&*payload)),
    }
}

fn close(stack: &mut ExitStack<'static>) -> Out {
    out(catch_unwind(AssertUnwindSafe(|| stack.close())))
}

/// Cancels a held entry; a value taken back is not released by the stack.
pub(super) fn cancel(held: Held<'_>) {
    match held {
        Held::Plain(handle) => handle.cancel(),
        Held::Value(entered) => entered.cancel().on_drop = None,
    }
}

/// Runs a held entry now.
pub(super) fn run_now(held: Held<'_>) -> Out {
    out(match held {
        Held::Plain(handle) => catch_unwind(AssertUnwindSafe(|| handle.run())),
        Held::Value(entered) => catch_unwind(AssertUnwindSafe(|| entered.release())),
    })
}

/// Push, cancel and run-now.
pub(super) fn handle_op<'s>(
    stack: &'s ExitStack<'static>,
    held: &mut Vec<(Id, Held<'s>)>,
    op: &Op,
) {
    match op {
        Op::Push { spec, hold } => {
            if let Some(handle) = register(stack, spec) {
                if *hold {
                    held.push((spec.id(), handle));
                }
            }
        }
        Op::Cancel(index) if !held.is_empty() => cancel(held.remove(index % held.len()).1),
        Op::RunNow(index) if !held.is_empty() => {
            let (id, handle) = held.remove(index % held.len());
            log(Event::RunNow(id, run_now(handle)));
        }
        Op::Cancel(_) | Op::RunNow(_) => {}
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

fn stack_program(ops: &[Op], finish: Finish) {
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
                handle_op(&stack, &mut held, op);
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
            log(Event::Dropped(result.err().map(|p| panic_message(&*p))));
        }
        Finish::DropDuringPanic => {
            let result = catch_unwind(AssertUnwindSafe(move || {
                let _stack = stack;
                panic!("outer");
            }));
            log(Event::Dropped(result.err().map(|p| panic_message(&*p))));
        }
        Finish::CancelThenClose | Finish::CancelThenDrop => unreachable!("async stacks only"),
    }
    for mut stack in moved {
        log(Event::Moved(close(&mut stack)));
    }
}

fn scope_program(ops: &[Op], body: Body) {
    let result = catch_unwind(AssertUnwindSafe(|| {
        ExitStack::scope(|stack| {
            let mut held = Vec::new();
            for op in ops {
                handle_op(stack, &mut held, op);
            }
            drop(held);
            match body {
                Body::Ok => Ok(7),
                Body::Err => Err(BodyError),
                Body::Panic => panic!("body-panic"),
            }
        })
    }));
    log(Event::Scope(scope_out(result)));
}

/// What a scope returned (or the panic it resumed).
pub(super) fn scope_out(
    result: std::thread::Result<exitstack::ScopeResult<i32, BodyError>>,
) -> ScopeOut {
    match result {
        Err(payload) => ScopeOut::Panic(panic_message(&*payload)),
        Ok(Ok(Outcome::Completed(7))) => ScopeOut::Completed,
        Ok(Ok(Outcome::Completed(other))) => panic!("scope returned {other}, not 7"),
        Ok(Ok(Outcome::Suppressed(BodyError))) => ScopeOut::Suppressed,
        Ok(Err(error)) => {
            let (body, suppressed, cleanup) = error.into_parts();
            ScopeOut::Failed {
                body: body.is_some(),
                suppressed: suppressed.is_some(),
                cleanup: cleanup
                    .map(|errors| errors.iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
            }
        }
    }
}

/// Runs `program` on the real stack, with a reporter that writes to the log.
pub fn run(program: &Program) -> Vec<Event> {
    logged(|| match program {
        Program::Stack { ops, finish } => stack_program(ops, *finish),
        Program::Scope { ops, body } => scope_program(ops, *body),
    })
}

/// Runs `body` with a fresh log and a reporter that writes to it; returns the log.
pub(super) fn logged(body: impl FnOnce()) -> Vec<Event> {
    LOG.with(|log| log.borrow_mut().clear());
    report::with_reporter(
        |report| log(Event::Report(report.reason(), report.error().to_string())),
        body,
    );
    LOG.with(|log| log.take())
}
