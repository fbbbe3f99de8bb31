//! The guards behind bare `defer!`: a closure run when a local goes out of scope, with no
//! allocation (the guard is the closure plus, for the conditional forms, one `bool`).
//!
//! A bare guard has no `close`, so it cannot tell a `?` from a normal end of scope; it only knows
//! panics. Its conditional forms follow [`Ending`](crate::Ending) for the one case it can see:
//! `on_error` runs when the guard is dropped by a panic that began after the guard was made
//! ([`Ending::Panicked`](crate::Ending::Panicked)), `on_success` runs otherwise. For errors
//! returned with `?`, register on a stack (`defer!(stack => on_error { .. })`).

use std::mem::ManuallyDrop;

/// When a bare guard runs its closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Always.
    Always,
    /// Only when dropped by a panic that began after the guard was made.
    OnPanic,
    /// Only when not dropped by such a panic.
    OnSuccess,
}

/// Runs `F` when dropped, if its condition holds.
#[must_use = "a guard runs its closure when dropped: bind it to a local"]
pub struct Defer<F: FnOnce()> {
    f: ManuallyDrop<F>,
    when: When,
    born_panicking: bool,
}

impl<F: FnOnce()> Defer<F> {
    /// A guard that runs `f` at the end of the scope, under the condition `when`.
    #[inline]
    pub fn new(when: When, f: F) -> Self {
        Defer {
            f: ManuallyDrop::new(f),
            when,
            // Only the conditional forms need it; reading it is cheap, and a branch-free `Always`
            // keeps the common guard as small as scopeguard's.
            born_panicking: when != When::Always && std::thread::panicking(),
        }
    }
}

impl<F: FnOnce()> Drop for Defer<F> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `f` is not touched after this read; the `ManuallyDrop`
        // keeps the field's own drop glue from dropping it a second time.
        let f = unsafe { ManuallyDrop::take(&mut self.f) };
        let run = match self.when {
            When::Always => true,
            When::OnPanic => std::thread::panicking() && !self.born_panicking,
            When::OnSuccess => !std::thread::panicking() || self.born_panicking,
        };
        if run {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Defer, When};
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[test]
    fn conditions_follow_panics() {
        let log = Cell::new((0, 0, 0));
        {
            let _always = Defer::new(When::Always, || log.set((log.get().0 + 1, 0, 0)));
        }
        assert_eq!(log.get(), (1, 0, 0));
        let panicked = Cell::new(0);
        let succeeded = Cell::new(0);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _e = Defer::new(When::OnPanic, || panicked.set(panicked.get() + 1));
            let _s = Defer::new(When::OnSuccess, || succeeded.set(succeeded.get() + 1));
            panic!("boom");
        }));
        assert_eq!((panicked.get(), succeeded.get()), (1, 0));
        {
            let _e = Defer::new(When::OnPanic, || panicked.set(panicked.get() + 1));
            let _s = Defer::new(When::OnSuccess, || succeeded.set(succeeded.get() + 1));
        }
        assert_eq!((panicked.get(), succeeded.get()), (1, 1));
    }

    #[test]
    fn always_guard_is_as_small_as_its_closure_plus_flags() {
        let x = 1u64;
        let guard = Defer::new(When::Always, move || assert_eq!(x, 1));
        assert!(std::mem::size_of_val(&guard) <= 16);
    }
}
