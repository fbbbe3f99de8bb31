//! Storage for entries: type-erased bodies laid out in place, first in a few words inside the
//! stack itself, then in chunks that never move.
//!
//! An entry is `[body words][vtable][site]`: the two header words sit *after* the body, so the
//! top entry is found from the fill level alone and pushing/popping is a few pointer bumps.
//! Bodies up to `MAX_INLINE_WORDS` words with at most word alignment are stored in place;
//! larger ones are boxed (see `entry::Boxed`).
//!
//! The first entries (four of three words, or more smaller ones) go in [`INLINE_WORDS`] words
//! held by the arena itself, so a small stack allocates nothing. Later ones go in heap chunks,
//! which are never reallocated. The inline words are always the oldest entries: they are pushed
//! to only until the first chunk is made.
//!
//! # Why references into entries stay valid
//!
//! `enter` hands out references into a body while more entries are written beside it. Entry
//! words, inline or in a chunk, are therefore only reached through raw pointers: the chunks are
//! separate allocations, and the inline words sit in an `UnsafeCell` of their own that no
//! `&mut` covers while the stack is shared. The bookkeeping (`Chunks`: fill levels, the list
//! of chunks) is a separate cell, borrowed `&mut` only inside the methods below, which run no
//! code of the user's. A `Sendable` stack is `Sync`: it serializes the calls several threads
//! may make through `&self` (registrations, `is_empty`) with a flag, and each entry's words are
//! then touched only by the handle its push returned. A stack whose entries sit inline can
//! still be moved (returned, swapped by `pop_all`, boxed by `push_stack`): moving it needs it
//! unborrowed, so no `Entered` or `Handle` points into it then, and entries hold no pointers
//! into themselves (a body is an ordinary Rust value, movable bit for bit).

mod chunk;
mod slot;
mod vtable;

use std::cell::UnsafeCell;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};

use chunk::Chunk;
pub(crate) use slot::{Popped, Slot};
pub(crate) use vtable::{
    fits_inline, span_of, tombstone_of, words_of, Passed, Rare, StackRef, StartAsync, Step, VTable,
};

use crate::ending::Ending;
use crate::pending::Pending;
use crate::site::Site;

/// What [`Arena::pop_inline`] found.
pub(crate) enum Top {
    /// The top entry, taken off.
    Entry(Popped),
    /// No entry left.
    Empty,
    /// Some entries may be in chunks: use [`Arena::pop`].
    Chunked,
}

/// One machine word: the unit entries are measured in.
pub(crate) type Word = usize;

/// Header words after each body: the vtable pointer and the site.
const HEADER_WORDS: usize = 2;
/// Words held in the stack itself: four entries of three words (a closure capturing three
/// references, or a three-word value), or more smaller ones.
pub(crate) const INLINE_WORDS: usize = 4 * (3 + HEADER_WORDS);
/// First chunk size in words; chunks double up to `MAX_CHUNK_WORDS`.
const FIRST_CHUNK_WORDS: usize = 64;
/// Cap on chunk growth, so the unused tail of the last chunk stays small (2 MiB on 64-bit)
/// while a million small entries still take only a few dozen chunks.
const MAX_CHUNK_WORDS: usize = 1 << 18;

/// The bit of [`Chunks::inline_state`] set once a chunk was allocated (or adopted by a splice).
/// It is never cleared: an arena whose entries all sit inline pops them with one test of one
/// word, and `inline_state == 0` says at once that the arena is empty and owns no memory.
const CHUNKED: usize = 1 << (usize::BITS - 1);

/// The bookkeeping of an arena: fill levels and chunks, never the entry words themselves.
/// Small on purpose: a stack that stays inline initializes these five words and no more.
struct Chunks {
    /// The chunk pushed to and popped from (`Chunk::NONE` until the first chunk).
    top: Chunk,
    /// How many of the inline words hold entries, plus [`CHUNKED`] once any chunk was made.
    /// Without that bit, `top` is `Chunk::NONE`, `rest` is `None` and every entry is inline;
    /// with it, the inline words are no longer pushed to (entries in chunks are newer than
    /// the inline ones, so these stay the oldest and pop last).
    inline_state: usize,
    /// The older chunks and the spare: made by the first stack that needs either, so that a
    /// stack with one chunk keeps no more than `top`.
    rest: Option<Box<Rest>>,
}

/// The chunks of an arena other than its top.
#[derive(Default)]
struct Rest {
    /// The older chunks, oldest first; popping continues with the last one when `top` empties.
    below: Vec<Chunk>,
    /// One emptied chunk kept back, so a stack that fills and empties repeatedly at a chunk
    /// boundary does not allocate each time.
    spare: Chunk,
}

/// The entries of one stack. Empty arenas own no memory.
///
/// The chunk pushed to and popped from is held by value in `top`, not as the last element of
/// the older chunks: the hot paths then read its fields straight from the arena.
///
/// `repr(C)` (bookkeeping first, then the inline words) is for the optimizer: with the default
/// layout, a stack made in a scope was built aside and copied into place, inline words and all
/// (`BENCHMARKS.md`, "Two cleanups per call"). Re-measure after changing either field.
#[repr(C)]
pub(crate) struct Arena {
    /// Dropped by `Arena::drop` only when it holds heap memory: most stacks never do.
    chunks: UnsafeCell<ManuallyDrop<Chunks>>,
    inline: UnsafeCell<[MaybeUninit<Word>; INLINE_WORDS]>,
}

impl Default for Arena {
    #[inline]
    fn default() -> Self {
        Arena {
            chunks: UnsafeCell::new(ManuallyDrop::new(Chunks {
                top: Chunk::NONE,
                inline_state: 0,
                rest: None,
            })),
            inline: UnsafeCell::new([const { MaybeUninit::uninit() }; INLINE_WORDS]),
        }
    }
}

impl Arena {
    /// The bookkeeping, borrowed for the length of one method.
    ///
    /// Safety: no other reference to the bookkeeping is alive (the methods of `Arena` run no
    /// code but their own while they hold it, and never call each other while they do), and
    /// no other thread is in a method of this arena: a stack shared between threads (a `Sync`
    /// `Sendable` stack) holds its flag around every call it makes through `&self`, and every
    /// other call is made with the stack `&mut` or owned.
    #[allow(clippy::mut_from_ref)] // the cell is the point: see the module docs
    #[inline]
    unsafe fn chunks(&self) -> &mut Chunks {
        // SAFETY: forwarded from the caller.
        unsafe { &mut *self.chunks.get() }
    }

    /// The first inline word, as a raw pointer (never a reference: see the module docs).
    #[inline]
    fn inline_base(&self) -> *mut Word {
        self.inline.get().cast::<Word>()
    }

    /// Whether the arena holds no entry and no memory (no chunk was ever made): dropping it
    /// does nothing.
    #[inline]
    pub(crate) fn is_pristine(&self) -> bool {
        // SAFETY: a method of `Arena` (see `chunks`).
        let chunks = unsafe { self.chunks() };
        // No entry inline and no chunk ever made (see `CHUNKED`).
        chunks.inline_state == 0
    }

    /// Whether no entry (live or tombstoned) is left.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        // SAFETY: a method of `Arena` (see `chunks`).
        let chunks = unsafe { self.chunks() };
        // Chunks below the top are never empty (see `Chunks::refill`).
        (chunks.top.used | (chunks.inline_state & !CHUNKED)) == 0 && chunks.below_is_empty()
    }

    /// Writes a body and its header at the top and returns where it went.
    ///
    /// Safety: `vtable` must describe `B` (its `words` is `words_of::<B>()`, its functions
    /// expect a `B`), and `B` must fit inline.
    #[inline]
    pub(crate) unsafe fn push<B>(&self, body: B, vtable: &'static VTable, site: Site) -> Slot {
        debug_assert!(fits_inline::<B>());
        debug_assert_eq!(vtable.words, words_of::<B>());
        // `words_of::<B>()` is a constant, where `vtable.words` would be a load.
        let start = self.reserve(words_of::<B>() + HEADER_WORDS);
        // SAFETY: `reserve` returned `words + HEADER_WORDS` free, word-aligned words; the body
        // is word-aligned (checked by `fits_inline`) and is followed by the two header words.
        unsafe {
            start.cast::<B>().write(body);
            write_header(start.add(words_of::<B>()), vtable, site)
        }
    }

    /// Moves an entry's body, bit for bit, from `body` (a slot of another arena, tombstoned
    /// there) to the top of this one.
    ///
    /// Safety: `body` points to `vtable.words` initialized, word-aligned words holding a body
    /// that `vtable` describes and that nobody reads at its old place again.
    pub(crate) unsafe fn push_moved(&self, body: *const Word, vtable: &'static VTable, site: Site) {
        let start = self.reserve(vtable.span);
        // SAFETY: as in `push`, with the body copied from a place that does not overlap the
        // words just reserved (it is another arena's slot).
        unsafe {
            ptr::copy_nonoverlapping(body, start, vtable.words);
            write_header(start.add(vtable.words), vtable, site);
        }
    }

    /// Reserves `needed` words at the top and returns the first.
    #[inline]
    fn reserve(&self, needed: usize) -> *mut Word {
        // SAFETY: a method of `Arena` (see `chunks`).
        let chunks = unsafe { self.chunks() };
        let top = &mut chunks.top;
        if top.capacity - top.used >= needed {
            // SAFETY: `used + needed <= capacity`, inside the chunk's allocation.
            let start = unsafe { top.base.as_ptr().add(top.used) };
            top.used += needed;
            return start;
        }
        // The inline words, while no chunk was ever made (checked second: a stack past its
        // first entries pays nothing for them). `CHUNKED` alone exceeds `INLINE_WORDS`.
        if chunks.inline_state + needed <= INLINE_WORDS {
            // SAFETY: `inline_state + needed <= INLINE_WORDS`, so `CHUNKED` is clear and the
            // words are inside the inline ones.
            let start = unsafe { self.inline_base().add(chunks.inline_state) };
            chunks.inline_state += needed;
            return start;
        }
        self.reserve_in_new_chunk(needed)
    }

    /// `reserve` when neither the top chunk nor the inline words have room.
    #[cold]
    #[inline(never)]
    fn reserve_in_new_chunk(&self, needed: usize) -> *mut Word {
        // SAFETY: a method of `Arena` (see `chunks`).
        let chunks = unsafe { self.chunks() };
        chunks.grow(needed);
        let top = &mut chunks.top;
        // SAFETY: `grow` made a top chunk with at least `needed` free words.
        let start = unsafe { top.base.as_ptr().add(top.used) };
        top.used += needed;
        start
    }

    /// Takes the top entry off, or `None` when the arena is empty.
    #[inline]
    pub(crate) fn pop(&self) -> Option<Popped> {
        // SAFETY: a method of `Arena` (see `chunks`).
        let chunks = unsafe { self.chunks() };
        let top = &mut chunks.top;
        if top.used != 0 {
            // SAFETY: `used > 0` words of the chunk are entries, ending in the top one.
            return Some(unsafe { take_top(top.base.as_ptr(), &mut top.used) });
        }
        if !chunks.below_is_empty() {
            chunks.refill();
            let top = &mut chunks.top;
            // SAFETY: `refill` made a non-empty chunk the top.
            return Some(unsafe { take_top(top.base.as_ptr(), &mut top.used) });
        }
        // No chunk holds an entry: the inline words, if any.
        let mut used = chunks.inline_state & !CHUNKED;
        if used == 0 {
            return None;
        }
        // SAFETY: `used > 0` inline words are entries, ending in the top one.
        let popped = unsafe { take_top(self.inline_base(), &mut used) };
        chunks.inline_state = (chunks.inline_state & CHUNKED) | used;
        Some(popped)
    }

    /// Takes the top entry of an arena that never allocated a chunk (every entry inline), so
    /// that the unwind loop of a small stack asks one question per entry, not three; says
    /// [`Top::Chunked`] otherwise (then [`pop`](Arena::pop) takes over).
    #[inline]
    pub(crate) fn pop_inline(&self) -> Top {
        // SAFETY: a method of `Arena` (see `chunks`).
        let chunks = unsafe { self.chunks() };
        let state = chunks.inline_state;
        // One signed test for the common case: `CHUNKED` is the sign bit.
        if state.cast_signed() <= 0 {
            return if state == 0 { Top::Empty } else { Top::Chunked };
        }
        debug_assert!(chunks.top.capacity == 0 && chunks.rest.is_none());
        // SAFETY: without `CHUNKED`, `state > 0` inline words are entries, ending in the top
        // one.
        Top::Entry(unsafe { take_top(self.inline_base(), &mut chunks.inline_state) })
    }

    /// Moves every entry of `other` on top of this arena's, keeping their order: `other`'s
    /// entries become the next to pop. Costs one step per chunk (and a copy of at most
    /// [`INLINE_WORDS`] words), not per entry.
    pub(crate) fn splice(&self, other: Arena) {
        let mut other = other;
        let theirs = other.chunks.get_mut();
        let words = theirs.inline_state & !CHUNKED;
        if words > 0 {
            // Their inline entries are their oldest: they go right on top of ours, as they are
            // (the same layout in the inline words as in a chunk).
            let start = self.reserve(words);
            // SAFETY: `words` initialized words of `other`'s own inline storage, copied to
            // as many free words reserved here; `other` forgets them right after.
            unsafe { ptr::copy_nonoverlapping(other.inline.get().cast::<Word>(), start, words) };
            other.chunks.get_mut().inline_state &= CHUNKED;
        }
        // SAFETY: a method of `Arena` (see `chunks`); `other` is owned, so its bookkeeping is
        // not ours.
        let chunks = unsafe { self.chunks() };
        chunks.splice_chunks(other.chunks.get_mut());
        // `other` drops empty, and frees whatever memory it kept.
    }
}

impl Chunks {
    /// Whether no chunk below the top holds entries.
    #[inline]
    fn below_is_empty(&self) -> bool {
        self.rest.as_ref().is_none_or(|rest| rest.below.is_empty())
    }

    /// The older chunks and the spare, made on first use.
    fn rest(&mut self) -> &mut Rest {
        self.rest.get_or_insert_with(Box::default)
    }

    /// Makes `top` a chunk with at least `needed` free words, keeping the old one below.
    fn grow(&mut self, needed: usize) {
        self.inline_state |= CHUNKED;
        let last = self.top.capacity;
        let spare = match &mut self.rest {
            Some(rest) => std::mem::take(&mut rest.spare),
            None => Chunk::NONE,
        };
        let fresh = if spare.capacity >= needed {
            spare
        } else {
            let capacity = (last * 2)
                .clamp(FIRST_CHUNK_WORDS, MAX_CHUNK_WORDS)
                .max(needed);
            Chunk::allocate(capacity)
        };
        let old = std::mem::replace(&mut self.top, fresh);
        self.retire(old);
    }

    /// Puts a chunk that stopped being the top below (if it holds entries) or keeps it as the
    /// spare.
    fn retire(&mut self, chunk: Chunk) {
        if chunk.used > 0 {
            self.rest().below.push(chunk);
        } else {
            self.keep_spare(chunk);
        }
    }

    /// `top` is empty and `below` is not: retires `top` and makes the newest older chunk the
    /// top. Chunks below the top are never empty (a chunk empties only while it is the top,
    /// and only non-empty chunks are put below), so the new top has entries.
    #[cold]
    #[inline(never)]
    fn refill(&mut self) {
        if let Some(older) = self.rest.as_mut().and_then(|rest| rest.below.pop()) {
            debug_assert!(older.used > 0);
            let empty = std::mem::replace(&mut self.top, older);
            self.keep_spare(empty);
        }
    }

    /// Keeps an emptied chunk as the spare if it is larger than the current one.
    fn keep_spare(&mut self, chunk: Chunk) {
        debug_assert_eq!(chunk.used, 0);
        let spare = self.rest.as_ref().map_or(0, |rest| rest.spare.capacity);
        if chunk.capacity > spare {
            self.rest().spare = chunk;
        }
    }

    /// Moves `other`'s chunks on top of these (their inline entries already moved).
    fn splice_chunks(&mut self, other: &mut Chunks) {
        if other.top.used == 0 && other.below_is_empty() {
            return; // nothing in chunks: keep our own top
        }
        self.inline_state |= CHUNKED;
        let other_top = std::mem::replace(&mut other.top, Chunk::NONE);
        let old_top = std::mem::replace(&mut self.top, other_top);
        self.retire(old_top);
        let Some(theirs) = other.rest.as_mut() else {
            return;
        };
        if !theirs.below.is_empty() {
            self.rest().below.append(&mut theirs.below);
        }
        self.keep_spare(std::mem::take(&mut theirs.spare));
    }
}

/// Writes an entry's header at `header`, just after its body, and returns its slot.
///
/// Safety: `header` and the word after it are free words of this arena.
#[inline(always)]
unsafe fn write_header(header: *mut Word, vtable: &'static VTable, site: Site) -> Slot {
    // SAFETY: forwarded from the caller.
    unsafe {
        header.cast::<&'static VTable>().write(vtable);
        header.add(1).cast::<Site>().write(site);
        Slot {
            header: NonNull::new_unchecked(header),
        }
    }
}

/// Takes the top entry of `used` words of entries starting at `base`.
///
/// Safety: `used > 0`, and the `used` words at `base` are entries written by `push`, the top
/// one last.
#[inline(always)]
unsafe fn take_top(base: *mut Word, used: &mut usize) -> Popped {
    // SAFETY: the top words end in a header written by `push`; the body sits `words` words
    // below it, inside the same storage.
    unsafe {
        let header = base.add(*used - HEADER_WORDS);
        let vtable = header.cast::<&'static VTable>().read();
        let site = header.add(1).cast::<Site>().read();
        *used -= vtable.span;
        let body = base.add(*used);
        Popped { body, vtable, site }
    }
}

impl Drop for Arena {
    /// Drops every body left without running it, newest first: a cancelled nested stack. A
    /// nested stack found here is spliced in and discarded by the same loop, so ten thousand
    /// stacks nested in each other drop without recursion, and everything this arena held is
    /// gone when the drop returns (values may borrow the caller's locals). A drop that panics
    /// does not stop the others (as for a `Vec`): the first panic is resumed at the end, or
    /// reported if the thread is already panicking.
    #[inline]
    fn drop(&mut self) {
        // Most arenas never allocated and are empty here (their stack unwound them).
        if !self.is_pristine() {
            self.drop_slow();
        }
    }
}

impl Arena {
    /// `Drop` of an arena that holds entries or memory.
    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self) {
        let mut pending = Pending::new(Ending::Abandoned);
        self.discard_all(&mut pending);
        // Freed before the first panic is resumed, which must not leak the chunks.
        // SAFETY: dropped once, here (the arena is being dropped), and never used again.
        unsafe { ManuallyDrop::drop(self.chunks.get_mut()) };
        let _ = pending.finish(None); // no errors: only a panic to resume
    }

    /// The loop of `Drop`: every body dropped, their panics recorded.
    fn discard_all(&mut self, pending: &mut Pending) {
        while let Some(popped) = self.pop() {
            let (discard, body) = (popped.vtable.discard, popped.body);
            // SAFETY: the entry was just popped, so its body is ours to drop exactly once.
            match panic::catch_unwind(AssertUnwindSafe(|| unsafe { discard(body) })) {
                Ok(None) => {}
                Ok(Some(nested)) => self.splice(*nested),
                Err(payload) => pending.record_panic(payload, Some(&popped.site)),
            }
        }
    }
}
