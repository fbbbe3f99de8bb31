//! Tests of the storage engine through the public API: every path through the unsafe code
//! (inline and boxed bodies, chunk boundaries, tombstones, labels, splicing, handles) with
//! counters that catch a body run twice, never, or dropped twice. Small enough for Miri.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use exitstack::{ExitStack, Flow};

/// Counts drops, so a double drop or a leak shows.
struct DropCounter<'c>(&'c Cell<usize>);

impl Drop for DropCounter<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

const CHUNK_CROSSING: usize = if cfg!(miri) { 300 } else { 100_000 };

#[test]
fn entries_across_many_chunks_run_once_in_reverse_order() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    for i in 0..CHUNK_CROSSING {
        stack.callback({
            let log = &log;
            move || log.borrow_mut().push(i)
        });
    }
    stack.close().unwrap();
    let expected: Vec<usize> = (0..CHUNK_CROSSING).rev().collect();
    assert_eq!(*log.borrow(), expected);
}

#[test]
fn large_and_overaligned_bodies_are_boxed_and_still_run_once() {
    #[repr(align(64))]
    struct Aligned(u8);
    let runs = Cell::new(0);
    let drops = Cell::new(0);
    let aligned = Aligned(3);
    let mut stack = ExitStack::new();
    let big = [7u64; 32];
    let counter = DropCounter(&drops);
    stack.callback(move || {
        let _keep = &counter;
        assert_eq!(big.iter().sum::<u64>(), 7 * 32);
    });
    stack.callback(|| {
        assert_eq!(aligned.0, 3);
        runs.set(runs.get() + 1);
    });
    let mut entered = stack.enter([1u64; 40]);
    entered[39] = 2;
    assert_eq!(entered.iter().sum::<u64>(), 41);
    stack.close().unwrap();
    assert_eq!(runs.get(), 1);
    assert_eq!(drops.get(), 1);
}

#[test]
fn entered_references_stay_valid_while_more_is_registered() {
    let mut stack = ExitStack::new();
    let first = stack.enter(vec![1, 2, 3]).into_mut();
    let mut others = Vec::new();
    for i in 0..CHUNK_CROSSING.min(1_000) {
        others.push(stack.enter(i).into_mut());
    }
    first.push(4);
    assert_eq!(*first, [1, 2, 3, 4]);
    assert_eq!(*others[0], 0);
    *others[1] += 10;
    assert_eq!(*others[1], 11);
    stack.close().unwrap();
}

#[test]
fn cancel_drops_without_running_and_run_now_runs_once() {
    let runs = Cell::new(0);
    let drops = Cell::new(0);
    let mut stack = ExitStack::new();
    let counter = DropCounter(&drops);
    let cancelled = stack.callback(move || {
        let _keep = &counter;
        panic!("a cancelled entry must not run");
    });
    let ran = stack.callback(|| runs.set(runs.get() + 1));
    cancelled.cancel();
    assert_eq!(drops.get(), 1);
    ran.release().unwrap();
    assert_eq!(runs.get(), 1);
    stack.close().unwrap();
    assert_eq!(runs.get(), 1);
    assert_eq!(drops.get(), 1);
}

#[test]
fn entered_cancel_returns_the_value_and_release_runs_the_teardown() {
    let torn_down = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    let kept = stack.guard(String::from("kept"), |s| torn_down.borrow_mut().push(s));
    let released = stack.guard(String::from("released"), |s| torn_down.borrow_mut().push(s));
    // The handle is not kept: the entry stays registered and runs at close.
    stack.guard(String::from("later"), |s| torn_down.borrow_mut().push(s));
    assert_eq!(kept.cancel(), "kept");
    released.release().unwrap();
    assert_eq!(*torn_down.borrow(), ["released"]);
    stack.close().unwrap();
    assert_eq!(*torn_down.borrow(), ["released", "later"]);
}

#[test]
fn labels_survive_relabelling_and_reach_the_error() {
    let mut stack = ExitStack::new();
    stack
        .callback(|| Err("boom"))
        .label("first name")
        .label(String::from("final name"));
    stack.callback(|| ()).label("never fails");
    let errors = stack.close().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("final name"));
    assert_eq!(errors.first().location().unwrap().file(), file!());
}

#[test]
fn run_now_of_a_labelled_entry_keeps_its_label() {
    let stack = ExitStack::new();
    let handle = stack.callback(|| Err("now")).label("flush");
    let error = handle.release().unwrap_err();
    assert_eq!(error.first().label(), Some("flush"));
}

#[test]
fn nested_stacks_splice_in_order_and_see_the_pending_error() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut outer = ExitStack::new();
    let inner = ExitStack::new();
    let l = Rc::clone(&log);
    outer.callback(move || l.borrow_mut().push("outer first"));
    let l = Rc::clone(&log);
    inner.push_exit(move |exit| {
        l.borrow_mut().push("inner handler");
        Flow::suppress_if(exit.error().is_some())
    });
    let l = Rc::clone(&log);
    inner.callback(move || l.borrow_mut().push("inner last"));
    outer.push_stack(inner);
    outer.callback(|| Err("outer error"));
    outer.close().unwrap();
    assert_eq!(
        *log.borrow(),
        ["inner last", "inner handler", "outer first"]
    );
}

#[test]
fn a_cancelled_nested_stack_drops_its_entries_without_running_them() {
    let drops = Cell::new(0);
    let mut outer = ExitStack::new();
    let inner = ExitStack::new();
    let counter = DropCounter(&drops);
    inner.callback(move || {
        let _keep = &counter;
        panic!("must not run");
    });
    outer.push_stack(inner).cancel();
    assert_eq!(drops.get(), 1);
    outer.close().unwrap();
}

#[test]
fn pop_all_moves_everything_and_leaves_a_usable_stack() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    for i in 0..10 {
        stack.callback({
            let log = &log;
            move || log.borrow_mut().push(i)
        });
    }
    let mut moved = stack.pop_all();
    assert!(stack.is_empty());
    stack.callback(|| log.borrow_mut().push(100));
    stack.close().unwrap();
    moved.close().unwrap();
    assert_eq!(*log.borrow(), [100, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
}

#[test]
fn filling_and_emptying_repeatedly_reuses_memory() {
    let count = Cell::new(0);
    let mut stack = ExitStack::new();
    for _ in 0..if cfg!(miri) { 3 } else { 50 } {
        for _ in 0..200 {
            stack.callback(|| count.set(count.get() + 1));
        }
        stack.close().unwrap();
    }
    assert_eq!(count.get(), 200 * if cfg!(miri) { 3 } else { 50 });
}

#[test]
fn registrations_during_unwind_cross_chunk_boundaries() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    stack.callback_with_stack(|stack| {
        for i in 0..200 {
            stack.callback({
                let log = &log;
                move || log.borrow_mut().push(i)
            });
        }
    });
    stack.close().unwrap();
    let expected: Vec<i32> = (0..200).rev().collect();
    assert_eq!(*log.borrow(), expected);
}

#[test]
fn dropping_a_stack_with_tombstones_and_values_frees_everything() {
    let drops = Cell::new(0);
    {
        let stack = ExitStack::new();
        for _ in 0..100 {
            stack.enter(DropCounter(&drops));
        }
        let handle = stack.enter(DropCounter(&drops));
        let value = handle.cancel();
        drop(value);
    }
    assert_eq!(drops.get(), 101);
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop failed");
    }
}

#[test]
fn a_panicking_drop_in_a_cancelled_nested_stack_does_not_leak_the_others() {
    let drops = Cell::new(0);
    let outer = ExitStack::new();
    let inner = ExitStack::new();
    inner.enter(DropCounter(&drops));
    inner.enter(PanicOnDrop);
    inner.enter(DropCounter(&drops));
    let handle = outer.push_stack(inner);
    let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle.cancel()));
    assert!(cancelled.is_err(), "the drop's panic reaches the caller");
    assert_eq!(
        drops.get(),
        2,
        "the values around the panicking one are dropped too"
    );
}

#[test]
fn a_close_result_is_one_word() {
    // `close` and `#[with_stack]` functions return `Result<(), UnwindError>`: one word, in a
    // register, on the path where nothing failed.
    use std::mem::size_of;
    assert_eq!(size_of::<exitstack::UnwindError>(), size_of::<usize>());
    assert_eq!(
        size_of::<Result<(), exitstack::UnwindError>>(),
        size_of::<usize>()
    );
}

#[test]
fn a_stack_is_its_inline_words_and_five_more() {
    // Twenty inline words (four three-word entries with their headers) and five of
    // bookkeeping: moving a stack copies them, so they are kept few.
    use std::mem::size_of;
    assert_eq!(size_of::<ExitStack<'_>>(), 25 * size_of::<usize>());
}
