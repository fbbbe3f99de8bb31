//! Where an entry was registered and what it is called, packed into one word.
//!
//! Most entries have no label, so the word is just the `&'static Location` of the registering
//! call. A labelled entry points instead to a small heap record holding both; the lowest bit of
//! the pointer says which (both kinds are at least 4-byte aligned, so that bit is free).

use std::borrow::Cow;
use std::marker::PhantomData;
use std::panic::Location;
use std::ptr::NonNull;

/// The heap record of a labelled entry.
struct Labelled {
    location: &'static Location<'static>,
    label: Cow<'static, str>,
}

const LABELLED_TAG: usize = 1;

/// A location, or a boxed (location, label) when the tag bit is set.
pub(crate) struct Site {
    tagged: NonNull<()>,
    _owns: PhantomData<Box<Labelled>>,
}

// Alignment keeps bit 0 free in both pointer kinds.
const _: () = assert!(std::mem::align_of::<Location<'static>>() > LABELLED_TAG);
const _: () = assert!(std::mem::align_of::<Labelled>() > LABELLED_TAG);

impl Site {
    /// The site of an unlabelled entry.
    #[inline]
    pub(crate) fn new(location: &'static Location<'static>) -> Site {
        Site {
            tagged: NonNull::from(location).cast(),
            _owns: PhantomData,
        }
    }

    fn labelled(&self) -> Option<NonNull<Labelled>> {
        if self.tagged.addr().get() & LABELLED_TAG == 0 {
            None
        } else {
            Some(
                self.tagged
                    .map_addr(|addr| {
                        // SAFETY: clearing bit 0 of a non-null address whose bit 0 is set leaves it
                        // non-zero.
                        unsafe { std::num::NonZeroUsize::new_unchecked(addr.get() & !LABELLED_TAG) }
                    })
                    .cast(),
            )
        }
    }

    /// Where the entry was registered.
    pub(crate) fn location(&self) -> &'static Location<'static> {
        match self.labelled() {
            // SAFETY: a tagged pointer always comes from `Box::into_raw` in `set_label` and is
            // owned by this site until it is dropped.
            Some(record) => unsafe { record.as_ref().location },
            // SAFETY: an untagged pointer is the `&'static Location` given to `new`.
            None => unsafe { self.tagged.cast::<Location<'static>>().as_ref() },
        }
    }

    /// The label, if the entry has one.
    #[cfg(feature = "tracing")]
    pub(crate) fn label(&self) -> Option<&str> {
        // SAFETY: as in `location`; the record lives as long as `self`.
        self.labelled()
            .map(|record| unsafe { &*record.as_ptr() }.label.as_ref())
    }

    /// Gives the entry a label, replacing any earlier one.
    pub(crate) fn set_label(&mut self, label: Cow<'static, str>) {
        match self.labelled() {
            // SAFETY: as in `location`; `&mut self` makes this the only access.
            Some(record) => unsafe { (*record.as_ptr()).label = label },
            None => {
                let record = Box::new(Labelled {
                    location: self.location(),
                    label,
                });
                let raw = NonNull::from(Box::leak(record)).cast::<()>();
                self.tagged = raw.map_addr(|addr| addr | LABELLED_TAG);
            }
        }
    }

    /// A second site with the same location and label (for an entry run through its handle,
    /// whose own site stays in the slot until it is popped).
    pub(crate) fn duplicate(&self) -> Site {
        let mut copy = Site::new(self.location());
        if let Some(record) = self.labelled() {
            // SAFETY: as in `location`.
            copy.set_label(unsafe { &*record.as_ptr() }.label.clone());
        }
        copy
    }

    /// The label and location, taking the label out without copying it.
    pub(crate) fn into_parts(self) -> (Option<Cow<'static, str>>, &'static Location<'static>) {
        let this = std::mem::ManuallyDrop::new(self);
        match this.labelled() {
            Some(record) => {
                // SAFETY: the record came from `Box::leak` and `this` will not free it again.
                let record = unsafe { Box::from_raw(record.as_ptr()) };
                (Some(record.label), record.location)
            }
            None => (None, this.location()),
        }
    }
}

impl Drop for Site {
    /// Inlined: every entry's site is dropped as it runs, and most have no label to free.
    #[inline]
    fn drop(&mut self) {
        if self.tagged.addr().get() & LABELLED_TAG != 0 {
            self.free_label();
        }
    }
}

impl Site {
    #[cold]
    #[inline(never)]
    fn free_label(&mut self) {
        if let Some(record) = self.labelled() {
            // SAFETY: the record came from `Box::leak` in `set_label` and is freed only here
            // (`drop` runs once, and `into_parts` skips it).
            drop(unsafe { Box::from_raw(record.as_ptr()) });
        }
    }
}
