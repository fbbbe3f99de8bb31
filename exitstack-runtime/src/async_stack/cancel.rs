//! What an async scope does when its body future is dropped before it finished: its stack
//! unwinds as [`Ending::Cancelled`] (in the scope future's drop, as any dropped stack does).

use super::stack::AsyncExitStack;
use crate::ending::Ending;
use crate::threading::Threading;

/// Owns an async scope's stack while the body runs. Dropped before [`disarm`](Self::disarm)
/// (the scope future was dropped with the body in flight), it starts the stack's unwind as
/// cancelled, and then drops the stack: sync entries run now, async ones are reported or
/// spawned by the stack's `Drop`.
pub(super) struct OnCancel<'a, S: Threading>(Option<AsyncExitStack<'a, S>>);

impl<'a, S: Threading> OnCancel<'a, S> {
    pub(super) fn new(stack: AsyncExitStack<'a, S>) -> Self {
        OnCancel(Some(stack))
    }

    /// The stack, for the body.
    pub(super) fn stack(&mut self) -> &mut AsyncExitStack<'a, S> {
        self.0.as_mut().expect("the stack stays until disarmed")
    }

    /// The body finished (returned or panicked): the scope unwinds with its real outcome.
    pub(super) fn disarm(mut self) -> AsyncExitStack<'a, S> {
        self.0.take().expect("disarmed once")
    }
}

impl<S: Threading> Drop for OnCancel<'_, S> {
    fn drop(&mut self) {
        let Some(mut stack) = self.0.take() else {
            return;
        };
        // Dropped by a panic (the thread is panicking): the stack's `Drop` says `Panicked`, as
        // for any stack dropped during a panic. Otherwise the body was cancelled. A cancelled
        // `aclose` the body left behind continues with this ending, its errors kept.
        if !std::thread::panicking() && !stack.is_empty() {
            stack.begin_scope_unwind(Ending::Cancelled, false, None);
        }
        drop(stack);
    }
}
