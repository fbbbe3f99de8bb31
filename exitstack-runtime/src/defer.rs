//! The guards behind bare `defer!`: a closure run when a local goes out of scope, with no
//! allocation (the guard is the closure plus, for the conditional forms, one `bool`).
//!
//! A bare guard has no `close`, so it cannot tell a `?` from a normal end of scope; it only knows
//! panics, and its conditions are named for what it sees: `on_panic` runs when the guard is
//! dropped while the thread is panicking ([`Ending::Panicked`](crate::Ending::Panicked)),
//! `on_no_panic` runs otherwise (a `?` or an early `return` included). The stack's words
//! `on_error` / `on_success` mean the stack's [`Ending`](crate::Ending), which a guard cannot
//! know, so a bare `defer!(on_error ..)` is a compile error that says what to write. A guard made
//! inside a destructor that runs during a panic cannot tell that panic from a new one (Rust
//! offers no way to): dropped while it goes on, it counts as dropped by a panic, because when
//! unsure a panic-only cleanup had better run than not. For errors
//! returned with `?`, register on a stack (`defer!(stack => on_error { .. })`).

use std::mem::ManuallyDrop;

/// Runs `F` when dropped: the unconditional guard, exactly the size of its closure.
#[must_use = "a guard runs its closure when dropped: bind it to a local"]
pub struct Defer<F: FnOnce()> {
    f: ManuallyDrop<F>,
}

impl<F: FnOnce()> Defer<F> {
    /// A guard that runs `f` at the end of the scope.
    #[inline]
    pub fn new(f: F) -> Self {
        Defer {
            f: ManuallyDrop::new(f),
        }
    }
}

impl<F: FnOnce()> Drop for Defer<F> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `f` is not touched after this read; the `ManuallyDrop`
        // keeps the field's own drop glue from dropping it a second time.
        let f = unsafe { ManuallyDrop::take(&mut self.f) };
        f();
    }
}

/// When a conditional guard runs its closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum When {
    /// Only when dropped while the thread is panicking.
    OnPanic,
    /// Only when not dropped by such a panic.
    OnNoPanic,
}

/// Runs `F` when dropped, if its condition holds (`defer!(on_panic ..)`, `defer!(on_no_panic ..)`).
#[must_use = "a guard runs its closure when dropped: bind it to a local"]
pub struct DeferIf<F: FnOnce()> {
    f: ManuallyDrop<F>,
    when: When,
}

impl<F: FnOnce()> DeferIf<F> {
    /// A guard that runs `f` only if it is dropped while the thread is panicking.
    #[inline]
    pub fn on_panic(f: F) -> Self {
        DeferIf::new(When::OnPanic, f)
    }

    /// A guard that runs `f` unless it is dropped while the thread is panicking.
    #[inline]
    pub fn on_no_panic(f: F) -> Self {
        DeferIf::new(When::OnNoPanic, f)
    }

    #[inline]
    fn new(when: When, f: F) -> Self {
        DeferIf {
            f: ManuallyDrop::new(f),
            when,
        }
    }
}

impl<F: FnOnce()> Drop for DeferIf<F> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: as in `Defer::drop`: read once, never touched again, never dropped twice.
        let f = unsafe { ManuallyDrop::take(&mut self.f) };
        // Dropped by a panic exactly when the thread is panicking now: a guard made in a
        // destructor that runs during a panic cannot tell that panic from a new one, and when
        // unsure a panic-only cleanup had better run (see `stack::dropped_ending`).
        if std::thread::panicking() == (self.when == When::OnPanic) {
            f();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Defer, DeferIf, When};
    use std::cell::Cell;
    use std::panic::{catch_unwind, AssertUnwindSafe};

    #[test]
    fn conditions_follow_panics() {
        let log = Cell::new((0, 0, 0));
        {
            let _always = Defer::new(|| log.set((log.get().0 + 1, 0, 0)));
        }
        assert_eq!(log.get(), (1, 0, 0));
        let panicked = Cell::new(0);
        let succeeded = Cell::new(0);
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _e = DeferIf::new(When::OnPanic, || panicked.set(panicked.get() + 1));
            let _s = DeferIf::new(When::OnNoPanic, || succeeded.set(succeeded.get() + 1));
            panic!("boom");
        }));
        assert_eq!((panicked.get(), succeeded.get()), (1, 0));
        {
            let _e = DeferIf::new(When::OnPanic, || panicked.set(panicked.get() + 1));
            let _s = DeferIf::new(When::OnNoPanic, || succeeded.set(succeeded.get() + 1));
        }
        assert_eq!((panicked.get(), succeeded.get()), (1, 1));
    }

    #[test]
    fn unconditional_guard_is_exactly_its_closure() {
        let x = 1u64;
        let guard = Defer::new(move || assert_eq!(x, 1));
        assert_eq!(std::mem::size_of_val(&guard), std::mem::size_of::<u64>());
        let borrowed = Defer::new(|| assert_eq!(x, 1));
        assert_eq!(
            std::mem::size_of_val(&borrowed),
            std::mem::size_of::<&u64>()
        );
    }

    #[test]
    fn a_guard_made_during_a_panic_counts_as_dropped_by_a_panic() {
        struct RunsDuringPanic<'c>(&'c Cell<(bool, bool)>);
        impl Drop for RunsDuringPanic<'_> {
            fn drop(&mut self) {
                let seen = self.0;
                let _e = DeferIf::new(When::OnPanic, || seen.set((true, seen.get().1)));
                let _s = DeferIf::new(When::OnNoPanic, || seen.set((seen.get().0, true)));
            }
        }
        let seen = Cell::new((false, false));
        let _ = catch_unwind(AssertUnwindSafe(|| {
            let _d = RunsDuringPanic(&seen);
            panic!("outer");
        }));
        assert_eq!(seen.get(), (true, false));
    }
}
