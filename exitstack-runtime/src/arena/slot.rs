//! Where one entry lives ([`Slot`]) and an entry taken off the top ([`Popped`]).

use std::ptr::NonNull;

use super::{VTable, Word};
use crate::site::Site;

/// Where one entry lives: the address of its header (vtable word, then site word).
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub(super) header: NonNull<Word>,
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

    /// The site word, to read it in place (shared: a handle may be read from several threads).
    ///
    /// Safety: the slot's entry has not been popped, and nothing writes the site meanwhile.
    pub(crate) unsafe fn site<'x>(self) -> &'x Site {
        // SAFETY: the word after the vtable holds a `Site` written by `push`.
        unsafe { &*self.header.as_ptr().add(1).cast::<Site>() }
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
