//! [`Chunk`]: a raw allocation of words that never moves, filled from its start.

use std::alloc::{self, Layout};
use std::ptr::NonNull;

use super::Word;

/// A chunk of raw words; `used` words from the start hold entries. A chunk of capacity zero
/// owns no memory: it stands for "no chunk yet", so the push fast path needs no `Option`.
pub(super) struct Chunk {
    pub(super) base: NonNull<Word>,
    pub(super) capacity: usize,
    pub(super) used: usize,
}

impl Chunk {
    /// The placeholder for a missing chunk: nothing allocated, nothing free.
    pub(super) const NONE: Chunk = Chunk {
        base: NonNull::dangling(),
        capacity: 0,
        used: 0,
    };

    pub(super) fn allocate(capacity: usize) -> Chunk {
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

impl Default for Chunk {
    fn default() -> Self {
        Chunk::NONE
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
