//! The entries the real stack registers for a [`Spec`]: the values entered (a [`Token`], a
//! context over one), the handles the program keeps, and the sync registration shared by both
//! stacks ([`register_sync!`]).

use exitstack::Handle;
use exitstack::{report, BoxError, CleanupError, Close, Context, Entered, Exit, ExitStack, Flow};

use super::leases::fill_slot;
use super::{act, answer, ran, seen};
use crate::support::{Beh, ExitBeh, Id, Spec};

/// The value entered by `enter`, `enter_closing`, `guard` and `enter_context`.
pub(in crate::support) struct Token {
    pub(in crate::support) id: Id,
    /// For `enter`: whether `Drop` reports an error, whether it then panics, and whether it
    /// first builds and cancels stacks borrowing its locals. `None` once released another way
    /// (or taken back by `cancel`).
    pub(in crate::support) on_drop: Option<(bool, bool, bool)>,
    /// For `enter_closing`.
    pub(in crate::support) on_close: Beh,
    /// For `enter_context`.
    pub(in crate::support) on_exit: ExitBeh,
}

impl Token {
    pub(in crate::support) fn new(id: Id) -> Self {
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
pub(in crate::support) struct Ctx {
    pub(in crate::support) token: Token,
    pub(in crate::support) enter_fails: bool,
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
pub(in crate::support) enum Held<'s> {
    Plain(Handle<'s>),
    Value(Entered<'s, Token>),
    /// A lease of a shared value (`enter_shared`): cancelling it drops a plain `Shared`.
    Lease(Handle<'s>),
}

/// A kept handle, labelled.
pub(in crate::support) fn held_plain<'s>(handle: Handle<'s>, label: &str) -> Option<Held<'s>> {
    Some(Held::Plain(handle.label(label.to_owned())))
}

/// A kept handle to a value, labelled.
pub(in crate::support) fn held_value<'s>(
    entered: Entered<'s, Token>,
    label: &str,
) -> Option<Held<'s>> {
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
pub(in crate::support) use register_sync;

/// Registers `spec` on `stack`, labelled `e{id}`; `None` when nothing can be held.
pub(in crate::support) fn register<'s>(
    stack: &'s ExitStack<'static>,
    spec: &Spec,
) -> Option<Held<'s>> {
    if let Spec::Slot { id, fills, end } = spec {
        fill_slot(stack, *id, fills, *end);
        return None;
    }
    register_sync!(stack, spec)
}

pub(in crate::support) fn build(children: &[Spec]) -> ExitStack<'static> {
    let stack = ExitStack::new();
    for child in children {
        register(&stack, child);
    }
    stack
}
