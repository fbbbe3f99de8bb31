//! Storage for entries: type-erased bodies laid out inline in chunks that never move.
//!
//! An entry is `[body words][vtable][site]`: the two header words sit *after* the body, so the
//! top entry is found from the chunk's fill level alone and pushing/popping is a few pointer
//! bumps. Bodies up to [`MAX_INLINE_WORDS`] words with at most word alignment are stored in
//! place; larger ones are boxed (see `entry::Boxed`). Chunks are raw allocations addressed only
//! through raw pointers, so references handed out by `enter` stay valid while later entries are
//! written beside them, and a chunk is never reallocated.

use std::alloc::{self, Layout};
use std::cell::UnsafeCell;
use std::mem::{align_of, size_of};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;

use crate::exit::Ending;
use crate::site::Site;
use crate::unwind::{Step, Unwind};

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

/// What the arena knows about one type of body.
pub(crate) struct VTable {
    /// Size of the body in words.
    pub(crate) words: usize,
    /// Moves the body out of its slot and runs it.
    ///
    /// Safety: the slot holds an initialized body of this vtable's type that nobody else will
    /// read again (the entry was popped or tombstoned first).
    pub(crate) run: unsafe fn(*mut Word, &mut Unwind<'_>) -> Step,
    /// Drops the body without running it. Same contract as `run`.
    pub(crate) discard: unsafe fn(*mut Word),
    /// The vtable to put in place once the body has been moved out: same size, does nothing.
    pub(crate) tombstone: &'static VTable,
    /// For async entries only: moves the body out and builds its future (see
    /// `async_stack::entry`). The sync loop ignores it and calls `run`, which reports instead.
    pub(crate) start_async: Option<crate::async_stack::StartAsync>,
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

unsafe fn run_nothing(_: *mut Word, _: &mut Unwind<'_>) -> Step {
    Step::Done
}

unsafe fn discard_nothing(_: *mut Word) {}

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

    /// Drops every body without running it, newest first. A drop that panics does not stop the
    /// others (as for a `Vec`): its panic goes to `unwind`, which keeps the first to resume and
    /// reports the rest.
    fn discard_all(&mut self, unwind: &mut Unwind<'_>) {
        while let Some(popped) = self.pop() {
            let (discard, body) = (popped.vtable.discard, popped.body);
            // SAFETY: the entry was just popped, so its body is ours to drop exactly once.
            let dropped = panic::catch_unwind(AssertUnwindSafe(|| unsafe { discard(body) }));
            if let Err(payload) = dropped {
                unwind.record_panic(payload, popped.site);
            }
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // Stacks unwind before their arena goes; what is left here was never meant to run
        // (a cancelled nested stack). Dropping the bodies keeps their resources from leaking.
        // A body may be a nested arena (`push_stack`) holding nested arenas in turn: recursing
        // into each would overflow the thread's stack for 10,000 nested stacks (found by
        // `tests/tests/stress_sync.rs`), so an arena dropped inside another's discard hands
        // its entries to that outer drop, which discards them in a loop.
        if self.is_empty() {
            return;
        }
        if DISCARDING.try_with(|queue| queue.borrow().is_some()) == Ok(true) {
            let entries = std::mem::take(self);
            DISCARDING.with(|queue| {
                if let Some(queue) = queue.borrow_mut().as_mut() {
                    queue.push(entries);
                }
            });
            return;
        }
        let _ = DISCARDING.try_with(|queue| *queue.borrow_mut() = Some(Vec::new()));
        // Panics of the bodies' drops follow the unwind rules: the first is resumed once all are
        // dropped (or reported, if the thread is already panicking), the rest are reported.
        let no_arena = UnsafeCell::new(Arena::default());
        let mut unwind = Unwind::new(Ending::Abandoned, &no_arena, std::ptr::null());
        self.discard_all(&mut unwind);
        while let Some(mut nested) = DISCARDING
            .try_with(|queue| queue.borrow_mut().as_mut().and_then(Vec::pop))
            .ok()
            .flatten()
        {
            nested.discard_all(&mut unwind); // queues the arenas nested in it; `nested` drops empty
        }
        let _ = DISCARDING.try_with(|queue| queue.borrow_mut().take());
        let _ = unwind.finish(); // no errors: only a panic to resume
    }
}

thread_local! {
    /// Arenas handed over by drops nested in the outermost arena drop on this thread.
    static DISCARDING: std::cell::RefCell<Option<Vec<Arena>>> =
        const { std::cell::RefCell::new(None) };
}
