//! A stack of up to four three-word entries allocates nothing at all (its first entries live in
//! the stack itself). Beyond that, entries of up to three machine words are stored inline, in
//! chunks that never move: a
//! counting global allocator shows that a million registrations make only a few dozen
//! allocations (one per chunk), that `pop_all` allocates nothing, and that references handed out
//! by `enter` stay valid while the stack grows.
//!
//! The counters are per thread, so tests running in parallel do not disturb each other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use exitstack::ExitStack;

/// The system allocator, counting the allocations (and reallocations) made on each thread.
struct Counting;

thread_local! {
    // `const` and without a destructor: reading it never allocates, so the allocator may use it.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count_one() {
    let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
}

// SAFETY: every call is forwarded to `System` with the same arguments; the counter only
// observes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the number of allocations it made on this thread.
fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let result = f();
    (result, ALLOCATIONS.with(Cell::get) - before)
}

const MILLION: usize = 1_000_000;
/// "A few dozen": one allocation per chunk plus the list of chunks, for a million entries.
const FEW_DOZEN: usize = 48;

/// A three-word value whose drop counts.
struct ThreeWords<'c> {
    dropped: &'c Cell<usize>,
    payload: [usize; 2],
}

impl Drop for ThreeWords<'_> {
    fn drop(&mut self) {
        self.dropped.set(self.dropped.get() + 1);
    }
}

#[test]
fn a_million_one_word_callbacks_make_a_few_dozen_allocations() {
    let ran = Cell::new(0usize);
    let (result, allocations) = allocations_in(|| {
        let mut stack = ExitStack::new();
        for _ in 0..MILLION {
            stack.callback(|| ran.set(ran.get() + 1));
        }
        stack.close()
    });
    assert!(result.is_ok());
    assert_eq!(ran.get(), MILLION, "every callback ran once");
    assert!(
        allocations <= FEW_DOZEN,
        "{allocations} allocations for {MILLION} callbacks"
    );
    assert!(allocations > 0, "the counter counts: chunks were allocated");
}

#[test]
fn a_million_three_word_values_are_entered_without_allocating_each() {
    assert_eq!(
        std::mem::size_of::<ThreeWords<'_>>(),
        3 * std::mem::size_of::<usize>()
    );
    let dropped = Cell::new(0usize);
    let (sum, allocations) = allocations_in(|| {
        let mut stack = ExitStack::new();
        let mut sum = 0;
        for i in 0..MILLION {
            let mut value = stack.enter(ThreeWords {
                dropped: &dropped,
                payload: [i, 1],
            });
            value.payload[1] = 2;
            sum += value.payload[0] + value.payload[1];
        }
        assert_eq!(
            dropped.get(),
            0,
            "nothing is dropped before the stack unwinds"
        );
        stack.close().map(|()| sum)
    });
    let expected = (0..MILLION).sum::<usize>() + 2 * MILLION;
    assert_eq!(sum.ok(), Some(expected));
    assert_eq!(dropped.get(), MILLION, "every value was dropped once");
    assert!(
        allocations <= FEW_DOZEN,
        "{allocations} allocations for {MILLION} values"
    );
}

#[test]
fn pop_all_allocates_nothing_whatever_the_size() {
    let ran = Cell::new(0usize);
    let mut stack = ExitStack::new();
    for _ in 0..MILLION {
        stack.callback(|| ran.set(ran.get() + 1));
    }
    let (mut moved, allocations) = allocations_in(|| stack.pop_all());
    assert_eq!(allocations, 0, "pop_all moved the chunks, not the entries");
    assert!(stack.is_empty());
    stack.close().unwrap();
    assert_eq!(ran.get(), 0, "the emptied stack runs nothing");
    moved.close().unwrap();
    assert_eq!(ran.get(), MILLION, "the moved stack runs everything");
}

#[test]
fn references_from_enter_stay_valid_while_the_stack_grows() {
    let dropped = Cell::new(0usize);
    let mut stack = ExitStack::new();
    // Enough entries to fill many chunks: the early ones must not move.
    let kept: Vec<&mut ThreeWords<'_>> = (0..10_000)
        .map(|i| {
            stack
                .enter(ThreeWords {
                    dropped: &dropped,
                    payload: [i, i * 2],
                })
                .into_mut()
        })
        .collect();
    for (i, value) in kept.into_iter().enumerate() {
        assert_eq!(
            value.payload,
            [i, i * 2],
            "value {i} moved or was overwritten"
        );
        value.payload[0] = 0;
    }
    stack.close().unwrap();
    assert_eq!(dropped.get(), 10_000);
}

/// Four entries of three words each: the most a stack holds without a heap chunk (on a sync
/// or an async stack: both have `callback`).
macro_rules! four_three_word_callbacks {
    ($stack:expr, $ran:expr, $a:expr, $b:expr) => {{
        let (stack, ran, a, b): (_, &Cell<usize>, &u8, &u8) = ($stack, $ran, $a, $b);
        for _ in 0..4 {
            stack.callback(move || ran.set(ran.get() + usize::from(*a + *b)));
        }
    }};
}

#[test]
fn a_stack_of_four_three_word_entries_allocates_nothing_from_new_to_drop() {
    let ran = Cell::new(0usize);
    let (a, b) = (1u8, 0u8);
    let ((), closed) = allocations_in(|| {
        let mut stack = ExitStack::new();
        four_three_word_callbacks!(&stack, &ran, &a, &b);
        stack.close().unwrap();
    });
    let ((), dropped) = allocations_in(|| {
        let stack = ExitStack::new();
        four_three_word_callbacks!(&stack, &ran, &a, &b);
    });
    let dropped_values = Cell::new(0usize);
    let ((), entered) = allocations_in(|| {
        let mut stack = ExitStack::new();
        for i in 0..4 {
            stack.enter(ThreeWords {
                dropped: &dropped_values,
                payload: [i, i],
            });
        }
        stack.close().unwrap();
    });
    assert_eq!((closed, dropped, entered), (0, 0, 0));
    assert_eq!((ran.get(), dropped_values.get()), (8, 4));
}

#[test]
fn a_fifth_entry_takes_one_chunk() {
    let ran = Cell::new(0usize);
    let (a, b) = (1u8, 0u8);
    let ((), allocations) = allocations_in(|| {
        let mut stack = ExitStack::new();
        four_three_word_callbacks!(&stack, &ran, &a, &b);
        stack.callback(|| ran.set(ran.get() + 1));
        stack.close().unwrap();
    });
    assert_eq!(
        allocations, 1,
        "one chunk for what does not fit in the stack"
    );
    assert_eq!(ran.get(), 5);
}

#[test]
fn a_stack_closed_and_refilled_past_its_inline_words_reuses_its_chunk() {
    let ran = Cell::new(0usize);
    let mut stack = ExitStack::new();
    let ((), first) = allocations_in(|| {
        for _ in 0..20 {
            stack.callback(|| ran.set(ran.get() + 1));
        }
        stack.close().unwrap();
    });
    // Once a stack has a chunk, its entries go there (the inline words keep only the oldest
    // entries, until the first chunk); the chunk outlives `close`, so refilling allocates
    // nothing.
    let ((), refilled) = allocations_in(|| {
        for _ in 0..3 {
            for _ in 0..20 {
                stack.callback(|| ran.set(ran.get() + 1));
            }
            stack.close().unwrap();
        }
    });
    assert_eq!((first, refilled), (1, 0));
    assert_eq!(ran.get(), 80);
}

#[test]
fn a_scope_and_a_with_stack_function_with_four_entries_allocate_nothing() {
    #[exitstack::with_stack(stack)]
    fn decorated(ran: &Cell<usize>, a: &u8, b: &u8) -> Result<usize, exitstack::UnwindError> {
        four_three_word_callbacks!(stack, ran, a, b);
        Ok(4)
    }
    let ran = Cell::new(0usize);
    let (a, b) = (1u8, 0u8);
    let (scoped, in_scope) = allocations_in(|| {
        ExitStack::scope(|stack| {
            four_three_word_callbacks!(stack, &ran, &a, &b);
            Ok::<_, std::fmt::Error>(4)
        })
    });
    let (returned, in_function) = allocations_in(|| decorated(&ran, &a, &b));
    assert_eq!((in_scope, in_function), (0, 0));
    assert_eq!(scoped.unwrap(), 4);
    assert_eq!(returned.unwrap(), 4);
    assert_eq!(ran.get(), 8);
}

#[test]
fn an_async_stack_with_four_sync_entries_allocates_nothing() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let ran = Cell::new(0usize);
    let (a, b) = (1u8, 0u8);
    let (polled, allocations) = allocations_in(|| {
        let mut stack = exitstack::AsyncExitStack::new();
        four_three_word_callbacks!(&stack, &ran, &a, &b);
        let mut close = std::pin::pin!(stack.aclose());
        close.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    });
    assert!(matches!(polled, Poll::Ready(Ok(()))));
    assert_eq!(allocations, 0);
    assert_eq!(ran.get(), 4);
}
