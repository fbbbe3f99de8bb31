//! Releasing a stack: `pop_all`, `close`, the unwind a scope drives, and `Drop`.

use std::mem::ManuallyDrop;

use super::ExitStack;
use crate::ending::Ending;
use crate::error::UnwindError;
use crate::pending::Pending;
use crate::threading::Threading;
use crate::unwind::run_all;

impl<'a, S: Threading> ExitStack<'a, S> {
    /// Moves every entry into a new stack, in constant time, leaving this one empty and usable.
    /// This is how a scope hands what it acquired to its caller once everything succeeded.
    ///
    /// ```
    /// use exitstack::ExitStack;
    /// use std::cell::Cell;
    ///
    /// let released = Cell::new(false);
    /// let mut kept = {
    ///     let mut stack = ExitStack::new();
    ///     stack.callback(|| released.set(true));
    ///     // ... every acquisition succeeded:
    ///     stack.pop_all()
    /// }; // `stack` dropped here, empty: nothing runs
    /// assert!(!released.get());
    /// kept.close().unwrap();
    /// assert!(released.get());
    /// ```
    pub fn pop_all(&mut self) -> ExitStack<'a, S> {
        let mut moved = ExitStack::empty();
        // `&mut self`: no `Entered` or `Handle` points into the entries, so they may move
        // (the inline ones are copied; the chunks never move).
        std::mem::swap(&mut self.arena, &mut moved.arena);
        moved
    }

    /// Runs every entry, newest first, and returns every error in order. The stack is left
    /// empty and usable; closing it again does nothing. If an entry panicked, the first panic
    /// is resumed once every entry has run (errors pending then go to the
    /// [report channel](crate::report)).
    ///
    /// ```
    /// use exitstack::ExitStack;
    ///
    /// let mut stack = ExitStack::new();
    /// stack.callback(|| Err("one"));
    /// stack.callback(|| Err("two"));
    /// assert_eq!(stack.close().unwrap_err().len(), 2);
    /// assert!(stack.close().is_ok());
    /// ```
    #[inline]
    pub fn close(&mut self) -> Result<(), UnwindError> {
        let mut pending = Pending::new(Ending::Succeeded);
        let _pristine = self.unwind(&mut pending, None);
        pending.finish(None)
    }

    /// Runs every entry, recording into `pending` (the end of a scope, or `close`). Only while
    /// nothing else borrows the stack (`&mut`, or a scope's own stack after its body): popping
    /// bypasses the flag (see `Sync`). Returns whether the stack is pristine now: empty and
    /// owning no memory, so that dropping it would do nothing.
    #[inline]
    pub(crate) fn unwind(
        &self,
        pending: &mut Pending,
        scope_error: Option<&(dyn std::error::Error + 'static)>,
    ) -> bool {
        run_all(&self.arena, self.stack_ref(), pending, scope_error)
    }
}

/// How a stack dropped without `close` ended: [`Ending::Panicked`] exactly when the thread is
/// panicking as it drops, else [`Ending::Abandoned`]. A stack (or guard) made inside a
/// destructor that runs during a panic cannot tell that panic from a new one (Rust offers no
/// way to), and when unsure an error-only cleanup had better run than not.
pub(crate) fn dropped_ending() -> Ending {
    if std::thread::panicking() {
        Ending::Panicked
    } else {
        Ending::Abandoned
    }
}

impl<S: Threading> Drop for ExitStack<'_, S> {
    /// Runs every entry as abandoned (or panicked); errors go to the report channel.
    #[inline]
    fn drop(&mut self) {
        if !self.arena.is_pristine() {
            self.drop_slow();
        }
    }
}

impl<S: Threading> ExitStack<'_, S> {
    /// `Drop` of a stack that holds entries or memory.
    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self) {
        let mut pending = Pending::new(dropped_ending());
        if !self.arena.is_empty() {
            let _pristine = self.unwind(&mut pending, None);
        }
        // Freed before the unwind ends: ending it may resume a panic, which must not leak the
        // chunks.
        // SAFETY: dropped once, here (the stack is being dropped), and never used again.
        unsafe { ManuallyDrop::drop(&mut self.arena) };
        pending.finish_unobserved();
    }
}
