//! What the arena knows about a type of body: its [`VTable`] (size, how to run it, how to drop
//! it), what running it did ([`Step`]), and the stack it may register more on ([`StackRef`]).

use std::mem::{align_of, size_of};
use std::ptr::NonNull;

use super::{Arena, Word, HEADER_WORDS};
use crate::ending::Flow;
use crate::error::BoxError;
use crate::exit::Exit;
use crate::pending::Pending;

/// Bodies larger than this (in words) are boxed instead of stored inline.
pub(crate) const MAX_INLINE_WORDS: usize = 8;

/// What one entry did when it ran: usually nothing to record ([`Step::DONE`]), one word that
/// comes back in a register; the rare outcomes are boxed behind it.
pub(crate) struct Step(Option<Box<Rare>>);

/// What an entry did that the unwind must record.
pub(crate) enum Rare {
    /// Returned an error.
    Failed(BoxError),
    /// An exit handler asked to suppress what is pending.
    Suppress,
    /// A nested stack: its entries go on top of the arena being unwound and run next, by the
    /// same loop (no recursion).
    Splice(Box<Arena>),
}

impl Step {
    /// Ran (or was skipped by its condition) without an error.
    pub(crate) const DONE: Step = Step(None);

    /// Returned an error.
    #[cold]
    pub(crate) fn failed(error: BoxError) -> Step {
        Step(Some(Box::new(Rare::Failed(error))))
    }

    /// A nested stack to splice in.
    pub(crate) fn splice(arena: Box<Arena>) -> Step {
        Step(Some(Box::new(Rare::Splice(arena))))
    }

    /// What to record, if anything.
    #[inline]
    pub(crate) fn into_rare(self) -> Option<Box<Rare>> {
        self.0
    }
}

impl From<Flow> for Step {
    /// An exit handler's answer as a step.
    #[inline]
    fn from(flow: Flow) -> Step {
        match flow {
            Flow::Propagate => Step::DONE,
            Flow::Suppress => Step(Some(Box::new(Rare::Suppress))),
        }
    }
}

/// The stack being unwound, type-erased, for entries that register more on it while it unwinds
/// (`callback_with_stack`). Only those entries read it, as the stack type they were pushed on.
#[derive(Clone, Copy)]
pub(crate) struct StackRef(NonNull<()>);

impl StackRef {
    pub(crate) fn new<T>(stack: &T) -> StackRef {
        StackRef(NonNull::from(stack).cast())
    }

    /// The stack, as the type it was erased from.
    ///
    /// Safety: `T` is the type given to `new`, and that value is alive and only shared-borrowed
    /// for `'x`.
    pub(crate) unsafe fn get<'x, T>(self) -> &'x T {
        // SAFETY: forwarded from the caller.
        unsafe { self.0.cast::<T>().as_ref() }
    }
}

/// The scope's own error, as the loop passes it to entries.
pub(crate) type ScopeErrorRef<'e> = Option<&'e (dyn std::error::Error + 'static)>;

/// What an unwind passes every entry besides what is pending: the scope's own error and the
/// stack being unwound. Built once per loop and passed by reference, so that calling an entry
/// sets up three arguments, not five.
pub(crate) struct Passed<'e> {
    pub(crate) scope_error: ScopeErrorRef<'e>,
    pub(crate) stack: StackRef,
}

/// The `start_async` slot of a vtable: moves an async body out of its slot and writes its
/// future to `out` (see `async_stack::entry`, which defines what `out` points to).
pub(crate) type StartAsync = unsafe fn(body: *mut Word, exit: &Exit<'_>, out: *mut ());

/// What the arena knows about one type of body.
pub(crate) struct VTable {
    /// Size of the body in words.
    pub(crate) words: usize,
    /// Size of the whole entry in words: the body and its header (what a pop takes off, read
    /// as one word on the unwind's hot path).
    pub(crate) span: usize,
    /// Moves the body out of its slot and runs it, with what is pending (the unwind's outcome,
    /// and in `Passed` the scope's own error: the parts of an [`Exit`]) and the stack.
    ///
    /// Safety: the slot holds an initialized body of this vtable's type that nobody else will
    /// read again (the entry was popped or tombstoned first); `Passed::stack` is the stack the
    /// entry was pushed on (or one of the same type).
    pub(crate) run: unsafe fn(*mut Word, &Pending, &Passed<'_>) -> Step,
    /// Drops the body without running it; a nested stack is handed back instead of dropped,
    /// so that discarding nested stacks is a loop too. Same contract as `run`.
    pub(crate) discard: unsafe fn(*mut Word) -> Option<Box<Arena>>,
    /// The vtable to put in place once the body has been moved out: same size, does nothing.
    pub(crate) tombstone: &'static VTable,
    /// For async entries only: moves the body out and builds its future. The sync loop
    /// ignores it and calls `run`, which reports instead.
    pub(crate) start_async: Option<StartAsync>,
}

/// The vtable of a slot whose body is gone (cancelled, run now, or spliced away).
pub(crate) const fn tombstone_of(words: usize) -> VTable {
    VTable {
        words,
        span: span_of(words),
        run: run_nothing,
        discard: discard_nothing,
        tombstone: &TOMBSTONE_ZERO, // never consulted: a tombstone is never tombstoned again
        start_async: None,
    }
}

static TOMBSTONE_ZERO: VTable = VTable {
    words: 0,
    span: span_of(0),
    run: run_nothing,
    discard: discard_nothing,
    tombstone: &TOMBSTONE_ZERO,
    start_async: None,
};

unsafe fn run_nothing(_: *mut Word, _: &Pending, _: &Passed<'_>) -> Step {
    // A slot whose body is gone is no cleanup: it is not traced.
    #[cfg(feature = "tracing")]
    crate::trace::mark_silent();
    Step::DONE
}

unsafe fn discard_nothing(_: *mut Word) -> Option<Box<Arena>> {
    None
}

/// Whether a body of type `B` is stored inline (else it is boxed first).
pub(crate) const fn fits_inline<B>() -> bool {
    size_of::<B>() <= MAX_INLINE_WORDS * size_of::<Word>() && align_of::<B>() <= align_of::<Word>()
}

/// Words an entry with a body of `words` words occupies, header included.
pub(crate) const fn span_of(words: usize) -> usize {
    words + HEADER_WORDS
}

/// Words a body of type `B` occupies.
pub(crate) const fn words_of<B>() -> usize {
    size_of::<B>().div_ceil(size_of::<Word>())
}
