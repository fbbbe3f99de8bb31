//! Stress: ten million entries, ten thousand nested stacks, long error chains and entries
//! registered during the unwind, all on a thread with a 2 MiB stack, so that any recursion
//! in unwinding or dropping shows up as a stack overflow.
//!
//! Sizes shrink under Miri (`cfg(miri)`) and when `EXITSTACK_STRESS=small` (used by the leak
//! check, where valgrind makes every entry ~50x slower).

use std::cell::Cell;
use std::rc::Rc;

use exitstack::{report, ExitStack};
use exitstack_tests::on_small_stack;

/// `full` normally, `full / 100` with `EXITSTACK_STRESS=small`, `miri` under Miri.
fn size(full: usize, miri: usize) -> usize {
    if cfg!(miri) {
        miri
    } else if std::env::var("EXITSTACK_STRESS").as_deref() == Ok("small") {
        full / 100
    } else {
        full
    }
}

#[test]
fn ten_million_callbacks_unwind_in_order_on_a_2mib_thread() {
    on_small_stack(|| {
        let n = size(10_000_000, 1_000);
        let next = Cell::new(0usize);
        let mut stack = ExitStack::new();
        for i in 0..n {
            let next = &next;
            stack.callback(move || {
                // Newest first: entry `i` is the `n - 1 - i`th to run.
                assert_eq!(next.get(), n - 1 - i);
                next.set(next.get() + 1);
            });
        }
        stack.close().unwrap();
        assert_eq!(next.get(), n);
        assert!(stack.is_empty());
    });
}

#[test]
fn ten_million_entries_run_on_drop_without_close() {
    on_small_stack(|| {
        let n = size(10_000_000, 1_000);
        let ran = Rc::new(Cell::new(0usize));
        let stack = ExitStack::new();
        for _ in 0..n / 2 {
            let counter = Rc::clone(&ran);
            stack.callback(move || counter.set(counter.get() + 1));
            stack.enter(Rc::clone(&ran)); // dropped by the unwind: one strong count less each
        }
        assert_eq!(Rc::strong_count(&ran), 1 + n);
        drop(stack);
        assert_eq!(ran.get(), n / 2);
        assert_eq!(Rc::strong_count(&ran), 1, "every entered value was dropped");
    });
}

#[test]
fn a_million_errors_are_returned_flat_and_dropped_without_recursion() {
    on_small_stack(|| {
        let n = size(1_000_000, 200);
        let mut stack = ExitStack::new();
        for i in 0..n {
            stack.callback(move || Err(format!("error {i}")));
        }
        let errors = stack.close().unwrap_err();
        assert_eq!(errors.len(), n);
        assert_eq!(
            errors.first().error().to_string(),
            format!("error {}", n - 1)
        );
        assert_eq!(errors.iter().last().unwrap().error().to_string(), "error 0");
        drop(errors);
    });
}

/// Builds `depth` stacks, each holding a callback and (below it) the previous stack.
fn nested_chain<'a>(depth: usize, log: &'a Cell<usize>) -> ExitStack<'a> {
    let mut stack = ExitStack::new();
    for level in 0..depth {
        let outer = ExitStack::new();
        outer.callback(move || {
            // Level 0 is the innermost: it runs first.
            assert_eq!(log.get(), level);
            log.set(level + 1);
        });
        outer.push_stack(stack);
        stack = outer;
    }
    stack
}

#[test]
fn ten_thousand_nested_stacks_close_in_order() {
    on_small_stack(|| {
        let depth = size(10_000, 100).max(100);
        let log = Cell::new(0);
        let mut stack = nested_chain(depth, &log);
        stack.close().unwrap();
        assert_eq!(log.get(), depth);
    });
}

#[test]
fn ten_thousand_nested_stacks_unwind_on_drop() {
    on_small_stack(|| {
        let depth = size(10_000, 100).max(100);
        let log = Cell::new(0);
        drop(nested_chain(depth, &log));
        assert_eq!(log.get(), depth);
    });
}

#[test]
fn cancelling_ten_thousand_nested_stacks_drops_them_without_running() {
    on_small_stack(|| {
        let depth = size(10_000, 100).max(100);
        let log = Cell::new(0);
        let values = Rc::new(());
        let mut stack = ExitStack::new();
        let inner = nested_chain(depth, &log);
        inner.enter(Rc::clone(&values));
        stack.push_stack(inner).cancel();
        stack.close().unwrap();
        assert_eq!(log.get(), 0, "cancelled entries never run");
        assert_eq!(Rc::strong_count(&values), 1, "their values are dropped");
    });
}

/// Each entry registers the next one while the stack unwinds: a chain that is never on the
/// stack all at once and must not recurse.
fn chain(stack: &ExitStack<'_>, left: usize, ran: Rc<Cell<usize>>) {
    ran.set(ran.get() + 1);
    if left > 0 {
        stack.callback_with_stack(move |stack| chain(stack, left - 1, ran));
    }
}

#[test]
fn a_million_entries_registered_during_the_unwind_run_in_the_same_unwind() {
    on_small_stack(|| {
        let n = size(1_000_000, 500);
        let ran = Rc::new(Cell::new(0));
        let mut stack = ExitStack::new();
        let first = Rc::clone(&ran);
        stack.callback_with_stack(move |stack| chain(stack, n - 1, first));
        stack.close().unwrap();
        assert_eq!(ran.get(), n);
        assert!(stack.is_empty());
    });
}

#[test]
fn a_panic_in_every_thousandth_entry_stops_none_of_the_others() {
    on_small_stack(|| {
        let n = size(1_000_000, 1_000);
        let ran = Cell::new(0usize);
        let reports = std::sync::Arc::new(std::sync::Mutex::new(0usize));
        let mut stack = ExitStack::new();
        for i in 0..n {
            let ran = &ran;
            stack.callback(move || {
                ran.set(ran.get() + 1);
                assert!(i % 1_000 != 0, "entry {i}");
            });
        }
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let sink = std::sync::Arc::clone(&reports);
        let result = report::with_reporter(
            move |_| *sink.lock().unwrap() += 1,
            || std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stack.close())),
        );
        std::panic::set_hook(hook);
        let payload = result.expect_err("the first panic is resumed");
        let message = payload.downcast_ref::<String>().unwrap();
        // Newest first: the first to panic is the highest multiple of 1000 below n.
        assert_eq!(*message, format!("entry {}", (n - 1) / 1_000 * 1_000));
        assert_eq!(ran.get(), n);
        // The later panics cannot be resumed too: each is reported.
        assert_eq!(*reports.lock().unwrap(), (n - 1) / 1_000);
    });
}
