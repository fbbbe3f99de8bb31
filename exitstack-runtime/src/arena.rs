//! Storage for entries: type-erased bodies laid out inline in chunks that never move.
//!
//! An entry is `[body words][vtable][site]`: the two header words sit *after* the body, so the
//! top entry is found from the chunk's fill level alone and pushing/popping is a few pointer
//! bumps. Bodies up to [`MAX_INLINE_WORDS`] words with at most word alignment are stored in
//! place; larger ones are boxed (see `entry::Boxed`). Chunks are raw allocations addressed only
//! through raw pointers, so references handed out by `enter` stay valid while later entries are
//! written beside them, and a chunk is never reallocated.

use std::alloc::{self, Layout};
use std::mem::{align_of, size_of};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::ending::{Ending, Flow};
use crate::error::BoxError;
use crate::exit::Exit;
use crate::pending::Pending;
use crate::site::Site;

/// One machine word: the unit chunks are measured in.
pub(crate) type Word = usize;

/// Bodies larger than this (in words) are boxed instead of stored inline.
pub(crate) const MAX_INLINE_WORDS: usize = 8;
/// Header words after each body: the vtable pointer and the site.
const HEADER_WORDS: usize = 2;
/// First chunk size in words; chunks double up to `MAX_CHUNK_WORDS`.
const FIRST_CHUNK_WORDS: usize = 64;
/// Cap on chunk growth, so the unused tail of the last chunk stays small (2 MiB on 64-bit)
/// while a million small entries still take only a few dozen chunks.
const MAX_CHUNK_WORDS: usize = 1 << 18;

/// What one entry did when it ran.
pub(crate) enum Step {
    /// Ran (or was skipped by its condition) without an error.
    Done,
    /// Returned an error.
    Failed(BoxError),
    /// An exit handler asked to suppress what is pending.
    Suppress,
    /// A nested stack: its entries go on top of the arena being unwound and run next, by the
    /// same loop (no recursion).
    Splice(Box<Arena>),
}

impl From<Flow> for Step {
    /// An exit handler's answer as a step.
    #[inline]
    fn from(flow: Flow) -> Step {
        match flow {
            Flow::Propagate => Step::Done,
            Flow::Suppress => Step::Suppress,
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

/// The `start_async` slot of a vtable: moves an async body out of its slot and writes its
/// future to `out` (see `async_stack::entry`, which defines what `out` points to).
pub(crate) type StartAsync = unsafe fn(body: *mut Word, exit: &Exit<'_>, out: *mut ());

/// What the arena knows about one type of body.
pub(crate) struct VTable {
    /// Size of the body in words.
    pub(crate) words: usize,
    /// Moves the body out of its slot and runs it.
    ///
    /// Safety: the slot holds an initialized body of this vtable's type that nobody else will
    /// read again (the entry was popped or tombstoned first); `stack` is the stack the entry was
    /// pushed on (or one of the same type).
    pub(crate) run: unsafe fn(*mut Word, &Exit<'_>, StackRef) -> Step,
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
        run: run_nothing,
        discard: discard_nothing,
        tombstone: &TOMBSTONE_ZERO, // never consulted: a tombstone is never tombstoned again
        start_async: None,
    }
}

static TOMBSTONE_ZERO: VTable = VTable {
    words: 0,
    run: run_nothing,
    discard: discard_nothing,
    tombstone: &TOMBSTONE_ZERO,
    start_async: None,
};

unsafe fn run_nothing(_: *mut Word, _: &Exit<'_>, _: StackRef) -> Step {
    Step::Done
}

unsafe fn discard_nothing(_: *mut Word) -> Option<Box<Arena>> {
    None
}

/// Whether a body of type `B` is stored inline (else it is boxed first).
pub(crate) const fn fits_inline<B>() -> bool {
    size_of::<B>() <= MAX_INLINE_WORDS * size_of::<Word>() && align_of::<B>() <= align_of::<Word>()
}

/// Words a body of type `B` occupies.
pub(crate) const fn words_of<B>() -> usize {
    size_of::<B>().div_ceil(size_of::<Word>())
}

/// A chunk of raw words; `used` words from the start hold entries. A chunk of capacity zero
/// owns no memory: it stands for "no chunk yet", so the push fast path needs no `Option`.
struct Chunk {
    base: NonNull<Word>,
    capacity: usize,
    used: usize,
}

impl Chunk {
    /// The placeholder for a missing chunk: nothing allocated, nothing free.
    const NONE: Chunk = Chunk {
        base: NonNull::dangling(),
        capacity: 0,
        used: 0,
    };

    fn allocate(capacity: usize) -> Chunk {
        let layout = Layout::array::<Word>(capacity).expect("chunk size overflows");
        // SAFETY: the layout is non-zero-sized (capacity >= FIRST_CHUNK_WORDS > 0).
        let raw = unsafe { alloc::alloc(layout) };
        let base =
            NonNull::new(raw.cast::<Word>()).unwrap_or_else(|| alloc::handle_alloc_error(layout));
        Chunk {
            base,
            capacity,
            used: 0,
        }
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if self.capacity == 0 {
            return; // `Chunk::NONE`: owns nothing
        }
        let layout = Layout::array::<Word>(self.capacity).expect("chunk size overflows");
        // SAFETY: `base` came from `alloc::alloc` with this same layout and is freed once.
        unsafe { alloc::dealloc(self.base.as_ptr().cast(), layout) }
    }
}

/// Where one entry lives: the address of its header (vtable word, then site word).
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    header: NonNull<Word>,
}

impl Slot {
    /// The vtable currently in the slot.
    ///
    /// Safety: the slot's entry has not been popped.
    pub(crate) unsafe fn vtable(self) -> &'static VTable {
        // SAFETY: the header word was written as a `&'static VTable` by `push` or `tombstone`.
        unsafe { self.header.as_ptr().cast::<&'static VTable>().read() }
    }

    /// The body's first word.
    ///
    /// Safety: the slot's entry has not been popped.
    pub(crate) unsafe fn body(self) -> *mut Word {
        // SAFETY: the body occupies the `words` words just below the header, in one chunk.
        unsafe { self.header.as_ptr().sub(self.vtable().words) }
    }

    /// Marks the body as moved out, so unwinding skips the entry; returns the old vtable.
    ///
    /// Safety: the slot's entry has not been popped, and the caller moves the body out (runs or
    /// discards it with the returned vtable) right after.
    pub(crate) unsafe fn tombstone(self) -> &'static VTable {
        // SAFETY: as for `vtable`; the tombstone has the same size, so popping stays in step.
        unsafe {
            let old = self.vtable();
            self.header
                .as_ptr()
                .cast::<&'static VTable>()
                .write(old.tombstone);
            old
        }
    }

    /// Takes the entry out to run or discard it now: the slot is tombstoned (it stays in the
    /// arena until popped, as an entry that does nothing) and the body is handed over with a
    /// copy of its site.
    ///
    /// Safety: the slot's entry has not been popped or taken, and the caller runs or discards
    /// the returned body exactly once, right after.
    pub(crate) unsafe fn take(self) -> Popped {
        // SAFETY: forwarded from the caller; the body is read before the header is rewritten.
        unsafe {
            let body = self.body();
            let site = self.site_mut().duplicate();
            let vtable = self.tombstone();
            Popped { body, vtable, site }
        }
    }

    /// The site word, to read or relabel it in place.
    ///
    /// Safety: the slot's entry has not been popped, and no other reference to the site exists.
    pub(crate) unsafe fn site_mut<'x>(self) -> &'x mut Site {
        // SAFETY: the word after the vtable holds a `Site` written by `push`.
        unsafe { &mut *self.header.as_ptr().add(1).cast::<Site>() }
    }
}

/// An entry taken off the top: its body is still in the (now free) words and must be run or
/// discarded before anything else is pushed.
pub(crate) struct Popped {
    pub(crate) body: *mut Word,
    pub(crate) vtable: &'static VTable,
    pub(crate) site: Site,
}

/// The chunks of one stack. Empty arenas own no memory.
///
/// The chunk pushed to and popped from is held by value in `top`, not as the last element of
/// `below`: the hot paths then read its fields straight from the arena, with no `Vec` length or
/// pointer to load first.
pub(crate) struct Arena {
    /// The chunk pushed to and popped from (`Chunk::NONE` before the first push).
    top: Chunk,
    /// The older chunks, oldest first; popping continues with the last one when `top` empties.
    below: Vec<Chunk>,
    /// One emptied chunk kept back, so a stack that fills and empties repeatedly at a chunk
    /// boundary does not allocate each time.
    spare: Option<Chunk>,
}

impl Default for Arena {
    fn default() -> Self {
        Arena {
            top: Chunk::NONE,
            below: Vec::new(),
            spare: None,
        }
    }
}

impl Arena {
    /// Whether no entry (live or tombstoned) is left.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.top.used == 0 && self.below.iter().all(|chunk| chunk.used == 0)
    }

    /// Writes a body and its header at the top and returns where it went.
    ///
    /// Safety: `vtable` must describe `B` (its `words` is `words_of::<B>()`, its functions
    /// expect a `B`), and `B` must fit inline.
    #[inline]
    pub(crate) unsafe fn push<B>(&mut self, body: B, vtable: &'static VTable, site: Site) -> Slot {
        debug_assert!(fits_inline::<B>());
        debug_assert_eq!(vtable.words, words_of::<B>());
        // `words_of::<B>()` is a constant, where `vtable.words` would be a load.
        let needed = words_of::<B>() + HEADER_WORDS;
        if self.top.capacity - self.top.used < needed {
            self.grow(needed);
        }
        let chunk = &mut self.top;
        // SAFETY: the chunk has `needed` free words from `used` (checked, or `grow` made a chunk
        // that has); the body is word-aligned (checked by `fits_inline`) and followed by the two
        // header words, all inside the chunk's allocation.
        unsafe {
            let start = chunk.base.as_ptr().add(chunk.used);
            start.cast::<B>().write(body);
            let header = start.add(words_of::<B>());
            header.cast::<&'static VTable>().write(vtable);
            header.add(1).cast::<Site>().write(site);
            chunk.used += needed;
            Slot {
                header: NonNull::new_unchecked(header),
            }
        }
    }

    /// Moves an entry's body, bit for bit, from `body` (a slot of another arena, tombstoned
    /// there) to the top of this one.
    ///
    /// Safety: `body` points to `vtable.words` initialized, word-aligned words holding a body
    /// that `vtable` describes and that nobody reads at its old place again.
    pub(crate) unsafe fn push_moved(
        &mut self,
        body: *const Word,
        vtable: &'static VTable,
        site: Site,
    ) {
        let needed = vtable.words + HEADER_WORDS;
        if self.top.capacity - self.top.used < needed {
            self.grow(needed);
        }
        let chunk = &mut self.top;
        // SAFETY: as in `push`, with the body copied word by word from a place that does not
        // overlap this chunk's free words (it is another arena's slot).
        unsafe {
            let start = chunk.base.as_ptr().add(chunk.used);
            std::ptr::copy_nonoverlapping(body, start, vtable.words);
            let header = start.add(vtable.words);
            header.cast::<&'static VTable>().write(vtable);
            header.add(1).cast::<Site>().write(site);
        }
        chunk.used += needed;
    }

    /// Makes `top` a chunk with at least `needed` free words, keeping the old one below.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, needed: usize) {
        let last = self.top.capacity;
        let fresh = match self.spare.take() {
            Some(spare) if spare.capacity >= needed => spare,
            _ => {
                let capacity = (last * 2)
                    .clamp(FIRST_CHUNK_WORDS, MAX_CHUNK_WORDS)
                    .max(needed);
                Chunk::allocate(capacity)
            }
        };
        let old = std::mem::replace(&mut self.top, fresh);
        if old.used > 0 {
            self.below.push(old);
        } else {
            self.keep_spare(old);
        }
    }

    /// Takes the top entry off, or `None` when the arena is empty.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Popped> {
        if self.top.used == 0 && !self.refill() {
            return None;
        }
        let chunk = &mut self.top;
        // SAFETY: `used > 0` means the top words of the chunk end in a header written by
        // `push`; the body sits `words` words below it, inside the same chunk.
        unsafe {
            let header = chunk.base.as_ptr().add(chunk.used - HEADER_WORDS);
            let vtable = header.cast::<&'static VTable>().read();
            let site = header.add(1).cast::<Site>().read();
            chunk.used -= vtable.words + HEADER_WORDS;
            let body = chunk.base.as_ptr().add(chunk.used);
            Some(Popped { body, vtable, site })
        }
    }

    /// `top` is empty: retires it and makes the newest non-empty older chunk the top. Returns
    /// whether there was one.
    #[cold]
    #[inline(never)]
    fn refill(&mut self) -> bool {
        while let Some(older) = self.below.pop() {
            let empty = std::mem::replace(&mut self.top, older);
            self.keep_spare(empty);
            if self.top.used > 0 {
                return true;
            }
        }
        false
    }

    /// Keeps an emptied chunk as the spare if it is larger than the current one.
    fn keep_spare(&mut self, chunk: Chunk) {
        debug_assert_eq!(chunk.used, 0);
        let keep = chunk.capacity > 0
            && self
                .spare
                .as_ref()
                .is_none_or(|spare| spare.capacity < chunk.capacity);
        if keep {
            self.spare = Some(chunk);
        }
    }

    /// Moves every entry of `other` on top of this arena's, keeping their order: `other`'s
    /// entries become the next to pop. Costs one step per chunk, not per entry.
    pub(crate) fn splice(&mut self, mut other: Arena) {
        let other_top = std::mem::replace(&mut other.top, Chunk::NONE);
        let old_top = std::mem::replace(&mut self.top, other_top);
        if old_top.used > 0 {
            self.below.push(old_top);
        } else {
            self.keep_spare(old_top);
        }
        self.below.append(&mut other.below);
        if self.spare.is_none() {
            self.spare = other.spare.take();
        }
    }
}

impl Drop for Arena {
    /// Drops every body left without running it, newest first: a cancelled nested stack. A
    /// nested stack found here is spliced in and discarded by the same loop, so ten thousand
    /// stacks nested in each other drop without recursion, and everything this arena held is
    /// gone when the drop returns (values may borrow the caller's locals). A drop that panics
    /// does not stop the others (as for a `Vec`): the first panic is resumed at the end, or
    /// reported if the thread is already panicking.
    fn drop(&mut self) {
        if self.is_empty() {
            return;
        }
        let mut pending = Pending::new(Ending::Abandoned);
        while let Some(popped) = self.pop() {
            let (discard, body) = (popped.vtable.discard, popped.body);
            // SAFETY: the entry was just popped, so its body is ours to drop exactly once.
            match panic::catch_unwind(AssertUnwindSafe(|| unsafe { discard(body) })) {
                Ok(None) => {}
                Ok(Some(nested)) => self.splice(*nested),
                Err(payload) => pending.record_panic(payload, Some(&popped.site)),
            }
        }
        let _ = pending.finish(None); // no errors: only a panic to resume
    }
}
