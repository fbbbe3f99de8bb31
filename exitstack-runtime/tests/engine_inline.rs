//! The first entries of a stack live in the stack itself (no heap chunk): these tests walk every
//! path through that storage with values that notice a move, a double drop or a stale pointer
//! (Miri checks the pointers): references handed out while the stack fills past its inline
//! words, stacks moved by value while their entries sit inline, `pop_all`, nested stacks whose
//! inline entries are spliced on top of chunk entries, zero-sized and over-aligned values.

use std::cell::{Cell, RefCell};

use exitstack::{Entered, ExitStack};

/// Counts drops, so a double drop or a leak shows.
struct DropCounter<'c>(&'c Cell<usize>);

impl Drop for DropCounter<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// A three-word value that checks itself when dropped (an overwritten or half-moved value
/// fails) and logs its id.
struct Three<'l> {
    id: usize,
    twice: usize,
    log: &'l RefCell<Vec<usize>>,
}

impl Drop for Three<'_> {
    fn drop(&mut self) {
        assert_eq!(self.twice, self.id * 2, "value {} was overwritten", self.id);
        self.log.borrow_mut().push(self.id);
    }
}

fn three(id: usize, log: &RefCell<Vec<usize>>) -> Three<'_> {
    Three {
        id,
        twice: id * 2,
        log,
    }
}

#[test]
fn references_into_inline_entries_stay_valid_while_the_stack_moves_to_chunks() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    let mut kept: Vec<Entered<'_, Three<'_>>> = Vec::new();
    for id in 0..40 {
        kept.push(stack.enter(three(id, &log)));
        for (earlier, value) in kept.iter_mut().enumerate() {
            assert_eq!((value.id, value.twice), (earlier, earlier * 2));
            value.twice = earlier * 2; // a write through each reference, under Miri
        }
    }
    drop(kept);
    stack.close().unwrap();
    assert_eq!(*log.borrow(), (0..40).rev().collect::<Vec<_>>());
}

/// A stack filled inline, returned by value (moved), then used and closed by the caller.
fn filled<'l>(log: &'l RefCell<Vec<usize>>, count: usize) -> ExitStack<'l> {
    let stack = ExitStack::new();
    for id in 0..count {
        stack.enter(three(id, log));
    }
    stack
}

#[test]
fn a_stack_moved_by_value_keeps_its_inline_entries() {
    for count in [0, 1, 3, 4, 5, 9] {
        let log = RefCell::new(Vec::new());
        let mut stack = filled(&log, count);
        let mut boxed = Box::new(std::mem::take(&mut stack)); // moved again, onto the heap
        let mut extra = boxed.enter(three(count, &log));
        extra.twice = count * 2;
        boxed.close().unwrap();
        assert_eq!(*log.borrow(), (0..=count).rev().collect::<Vec<_>>());
        stack.close().unwrap(); // left empty by `take`
    }
}

#[test]
fn pop_all_moves_inline_entries_and_the_emptied_stack_fills_inline_again() {
    let log = RefCell::new(Vec::new());
    let mut stack = filled(&log, 3);
    let mut moved = stack.pop_all();
    assert!(stack.is_empty());
    stack.enter(three(10, &log));
    moved.enter(three(3, &log));
    stack.close().unwrap();
    moved.close().unwrap();
    assert_eq!(*log.borrow(), [10, 3, 2, 1, 0]);
}

#[test]
fn nested_stacks_with_inline_entries_splice_in_order_over_chunks_and_inline() {
    for (outer_count, inner_count) in [(0, 2), (2, 2), (3, 9), (9, 3), (9, 9), (1, 0)] {
        let log = RefCell::new(Vec::new());
        let mut outer = filled(&log, outer_count);
        let inner = ExitStack::new();
        for id in 100..100 + inner_count {
            inner.enter(three(id, &log));
        }
        outer.push_stack(inner);
        outer.close().unwrap();
        let expected: Vec<usize> = (100..100 + inner_count)
            .rev()
            .chain((0..outer_count).rev())
            .collect();
        assert_eq!(
            *log.borrow(),
            expected,
            "{outer_count} outer, {inner_count} inner"
        );
    }
}

#[test]
fn cancelled_and_dropped_nested_inline_stacks_drop_every_value_once() {
    let dropped = Cell::new(0);
    {
        let outer = ExitStack::new();
        let inner = ExitStack::new();
        inner.enter(DropCounter(&dropped));
        let deeper = ExitStack::new();
        deeper.enter(DropCounter(&dropped));
        inner.push_stack(deeper);
        outer.push_stack(inner).cancel();
        assert_eq!(
            dropped.get(),
            2,
            "cancel returned after both values were dropped"
        );
        outer.enter(DropCounter(&dropped));
    }
    assert_eq!(dropped.get(), 3);
}

#[test]
fn zero_sized_and_overaligned_values_round_trip_through_inline_storage() {
    #[repr(align(32))]
    struct Aligned(u64);
    let runs = Cell::new(0);
    let mut stack = ExitStack::new();
    let unit = stack.guard((), |()| runs.set(runs.get() + 1));
    assert_eq!(*unit, ());
    let aligned = stack.guard(Aligned(7), |value| {
        assert_eq!(value.0, 7);
        runs.set(runs.get() + 10);
    });
    assert_eq!(
        std::ptr::from_ref(&*aligned).addr() % 32,
        0,
        "alignment kept"
    );
    assert_eq!(aligned.0, 7);
    for _ in 0..12 {
        stack.guard((), |()| runs.set(runs.get() + 100)); // zero-sized: headers only
    }
    stack.close().unwrap();
    assert_eq!(runs.get(), 1 + 10 + 1200);
}

#[test]
fn a_stack_refilled_after_close_unwinds_in_order_inline_and_past_its_inline_words() {
    // Rounds of four entries (inline) and six (past the inline words: a chunk, which then
    // takes every later entry, the inline words holding only entries older than it).
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    for (round, count) in [4, 4, 6, 4, 6].into_iter().enumerate() {
        let base = round * 10;
        for id in base..base + count {
            stack.enter(three(id, &log));
        }
        stack.close().unwrap();
        assert!(stack.is_empty());
        let expected: Vec<usize> = (base..base + count).rev().collect();
        assert_eq!(log.borrow()[log.borrow().len() - count..], expected[..]);
    }
    assert_eq!(log.borrow().len(), 24);
}

#[test]
fn scopes_whose_stacks_need_chunks_free_them_on_every_ending() {
    // A scope skips the drop of a stack that stayed inline; one that needed a chunk must still
    // free it, whether the body returned, failed or panicked (Miri's and valgrind's leak checks
    // fail here otherwise).
    let log = RefCell::new(Vec::new());
    let returned = ExitStack::scope(|stack| {
        for id in 0..12 {
            stack.enter(three(id, &log));
        }
        Ok::<_, std::fmt::Error>(12)
    });
    assert_eq!(returned.unwrap(), 12);
    let failed = ExitStack::scope(|stack| {
        for id in 20..32 {
            stack.enter(three(id, &log));
        }
        Err::<(), _>(std::fmt::Error)
    });
    assert!(failed.unwrap_err().body_error().is_some());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ExitStack::scope(|stack| {
            for id in 40..52 {
                stack.enter(three(id, &log));
            }
            panic!("the body panics");
            #[allow(unreachable_code)]
            Ok::<(), std::fmt::Error>(())
        })
    }));
    assert!(panicked.is_err());
    let expected: Vec<usize> = [0..12, 20..32, 40..52]
        .into_iter()
        .flat_map(|ids| ids.rev())
        .collect();
    assert_eq!(*log.borrow(), expected);
}

#[test]
fn a_scope_whose_entry_needs_a_chunk_while_it_unwinds_frees_it() {
    // Inline until the unwind, when an entry registers past the inline words: the unwind hands
    // over to the loop for chunks and the scope drops the stack after all.
    let log = RefCell::new(Vec::new());
    let value = ExitStack::scope(|stack| {
        stack.callback_with_stack(|stack| {
            for id in 0..10 {
                stack.enter(three(id, &log));
            }
        });
        Ok::<_, std::fmt::Error>("value")
    });
    assert_eq!(value.unwrap(), "value");
    assert_eq!(*log.borrow(), (0..10).rev().collect::<Vec<_>>());
}

#[test]
fn handles_of_inline_entries_run_cancel_and_label_in_place() {
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    let first = stack.callback(|| log.borrow_mut().push("first"));
    stack.callback(|| Err("second failed")).label("second");
    let third = stack.callback(|| log.borrow_mut().push("third"));
    stack.callback(|| log.borrow_mut().push("fourth"));
    for extra in 0..3 {
        stack.callback(move || assert!(extra < 3)); // past the inline words
    }
    third.release().unwrap();
    first.cancel();
    let errors = stack.close().unwrap_err();
    assert_eq!(errors.first().label(), Some("second"));
    assert_eq!(*log.borrow(), ["third", "fourth"]);
}

#[test]
fn stacks_past_their_inline_words_free_their_chunks_when_a_drop_resumes_a_panic() {
    let ran = Cell::new(0);
    let resumed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let stack = ExitStack::new();
        stack.callback(|| panic!("the oldest entry panics"));
        for _ in 0..8 {
            stack.callback(|| ran.set(ran.get() + 1)); // past the inline words: a chunk
        }
    })); // dropped without close: the panic is resumed from the drop
    assert!(resumed.is_err());
    let cancelled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let outer = ExitStack::new();
        let inner = ExitStack::new();
        inner.enter(PanicsOnDrop);
        for _ in 0..8 {
            inner.callback(|| ());
        }
        outer.push_stack(inner).cancel(); // the arena's own drop resumes the value's panic
    }));
    assert!(cancelled.is_err());
    assert_eq!(ran.get(), 8);
    // Miri's leak check (and valgrind's in `.ci/leaks.sh`) fail here if a chunk was leaked.
}

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("dropped");
    }
}

#[test]
fn an_inline_stack_whose_entries_need_chunks_while_it_unwinds_runs_them_in_order() {
    // The unwind of a stack that never left its inline words takes a shorter loop; an entry
    // that registers past the inline words, or a nested stack with chunks spliced in, must
    // hand over to the general loop without losing the order or an entry.
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    stack.callback(|| log.borrow_mut().push(0));
    stack.push_stack(filled(&log, 12).pop_all()); // ids 0..12: in chunks once spliced
    stack.callback_with_stack(|stack| {
        for id in 100..112 {
            stack.enter(three(id, &log));
        }
    });
    assert!(stack.close().is_ok());
    let mut expected: Vec<usize> = (100..112).rev().collect();
    expected.extend((0..12).rev());
    expected.push(0);
    assert_eq!(*log.borrow(), expected);
    // Refilled and unwound again (in the chunk it kept): nothing is left behind.
    stack.callback(|| log.borrow_mut().push(7));
    assert!(stack.close().is_ok());
    assert_eq!(log.borrow().last(), Some(&7));
}
