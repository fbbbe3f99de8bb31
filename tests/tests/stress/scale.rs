//! `SEMANTICS.md`, "Exactly once": unwinding is a loop, never recursion. Ten million entries unwind
//! on a thread with a 2 MiB stack, and a long chain of errors (or of nested stacks) drops flat.
//! Miri runs the same code at a scale it can finish.

use std::cell::Cell;

use exitstack::ExitStack;
use exitstack_tests::on_small_stack;

const TEN_MILLION: usize = if cfg!(miri) { 1_000 } else { 10_000_000 };
const MANY_ERRORS: usize = if cfg!(miri) { 1_000 } else { 1_000_000 };
const DEEP: usize = if cfg!(miri) { 100 } else { 100_000 };

#[test]
fn ten_million_entries_close_on_a_2_mib_stack() {
    let ran = on_small_stack(|| {
        let ran = Cell::new(0usize);
        let mut stack = ExitStack::new();
        for _ in 0..TEN_MILLION {
            stack.callback(|| ran.set(ran.get() + 1));
        }
        stack.close().unwrap();
        assert!(stack.is_empty());
        ran.get()
    });
    assert_eq!(ran, TEN_MILLION);
}

#[test]
fn ten_million_entries_unwind_on_drop_on_a_2_mib_stack() {
    let ran = on_small_stack(|| {
        let ran = Cell::new(0usize);
        {
            let stack = ExitStack::new();
            for _ in 0..TEN_MILLION {
                stack.callback_on_error(|| ran.set(ran.get() + 1));
            }
        }
        ran.get()
    });
    assert_eq!(ran, TEN_MILLION);
}

#[test]
fn a_long_chain_of_errors_is_stored_flat_and_drops_without_recursion() {
    let count = on_small_stack(|| {
        let mut stack = ExitStack::new();
        for i in 0..MANY_ERRORS {
            stack.callback(move || Err(if i.is_multiple_of(2) { "even" } else { "odd" }));
        }
        let errors = stack.close().unwrap_err();
        let count = errors.len();
        let first = errors.first().error().to_string();
        // The newest entry (index MANY_ERRORS - 1, odd) failed first.
        assert_eq!(first, "odd");
        drop(errors);
        count
    });
    assert_eq!(count, MANY_ERRORS);
}

#[test]
fn deeply_nested_stacks_unwind_without_recursion() {
    let order_ok = on_small_stack(|| {
        let next = Cell::new(0usize);
        let mut outer = ExitStack::new();
        // Each level holds the deeper ones: stack k = [check(k), stack k+1].
        let mut inner = ExitStack::new();
        for depth in (0..DEEP).rev() {
            let level = ExitStack::new();
            let next = &next;
            level.callback(move || {
                // The deepest stack was pushed last, so it runs first: DEEP-1 down to 0.
                assert_eq!(next.get(), DEEP - 1 - depth);
                next.set(next.get() + 1);
            });
            level.push_stack(inner);
            inner = level;
        }
        outer.push_stack(inner);
        outer.close().unwrap();
        next.get() == DEEP
    });
    assert!(order_ok);
}

#[test]
fn deeply_nested_stacks_with_errors_return_them_flat() {
    let count = on_small_stack(|| {
        let mut inner = ExitStack::new();
        for _ in 0..DEEP {
            let level = ExitStack::new();
            level.callback(|| Err("level failed"));
            level.push_stack(inner);
            inner = level;
        }
        let mut outer = ExitStack::new();
        outer.push_stack(inner);
        outer.close().unwrap_err().len()
    });
    assert_eq!(count, DEEP);
}
