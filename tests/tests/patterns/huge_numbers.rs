//! Pattern "huge numbers": a million registered cleanups unwind without stack overflow, and
//! fast. Runs on a thread with a 2 MiB stack; Miri runs a thousand.

use std::cell::Cell;
use std::time::{Duration, Instant};

use exitstack::ExitStack;
use exitstack_tests::on_small_stack;

const MILLION: usize = if cfg!(miri) { 1_000 } else { 1_000_000 };

/// Generous even for an unoptimized build on a loaded machine; an optimized build takes a few
/// milliseconds. It catches accidental quadratic behaviour, not small regressions.
const BUDGET: Duration = Duration::from_secs(10);

#[test]
fn a_million_callbacks_unwind_fast_and_in_order() {
    let (took, in_order) = on_small_stack(|| {
        let next = Cell::new(MILLION);
        let started = Instant::now();
        let mut stack = ExitStack::new();
        for i in 0..MILLION {
            let next = &next;
            stack.callback(move || {
                assert_eq!(next.get(), i + 1);
                next.set(i);
            });
        }
        stack.close().unwrap();
        (started.elapsed(), next.get() == 0)
    });
    assert!(in_order);
    println!("{MILLION} callbacks registered and unwound in {took:?}");
    assert!(took < BUDGET, "{took:?}");
}

/// Counts its own drop.
struct Counted<'c>(&'c Cell<usize>);
impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn a_million_owned_values_and_guards_are_released_on_drop() {
    let (took, dropped, guarded) = on_small_stack(|| {
        let (dropped, guarded) = (Cell::new(0usize), Cell::new(0usize));
        let started = Instant::now();
        {
            let stack = ExitStack::new();
            for i in 0..MILLION {
                if i % 2 == 0 {
                    stack.enter(Counted(&dropped));
                } else {
                    stack.guard(i, |_| guarded.set(guarded.get() + 1));
                }
            }
            assert_eq!(dropped.get() + guarded.get(), 0);
        }
        (started.elapsed(), dropped.get(), guarded.get())
    });
    assert_eq!((dropped, guarded), (MILLION / 2, MILLION / 2));
    assert!(took < BUDGET, "{took:?}");
}

#[test]
fn a_million_failures_are_all_returned() {
    let count = on_small_stack(|| {
        let mut stack = ExitStack::new();
        for _ in 0..MILLION {
            stack.callback(|| Err("failed"));
        }
        stack.close().unwrap_err().len()
    });
    assert_eq!(count, MILLION);
}
