//! The unwinding loop: pops entries off an arena and runs each under `catch_unwind`, recording
//! what it did in a [`Pending`]. The one driver of sync entries, for every stack.

use std::error::Error;
use std::panic::{self, AssertUnwindSafe};

use crate::arena::{Arena, Passed, Popped, Rare, StackRef, Step, Top};
use crate::caught;
use crate::ending::Ending;
use crate::pending::Pending;
use crate::report::ReportReason;
use crate::site::Site;

/// Runs every entry, newest first, until the arena is empty. Entries pushed while this runs
/// (and the entries of nested stacks) are run next. Never recursive and never unwinds out:
/// panics are caught and recorded.
///
/// `stack` is the stack that owns `arena` (or, for a handle run now, the stack the entry was
/// pushed on); `scope_error` is the scope's own error, if it has one. Returns whether the arena
/// is pristine now ([`Arena::is_pristine`]: empty, owning no memory), which it is unless it ever
/// needed a chunk: a scope whose stack stayed small then skips its drop.
#[inline]
pub(crate) fn run_all(
    arena: &Arena,
    stack: StackRef,
    pending: &mut Pending,
    scope_error: Option<&(dyn Error + 'static)>,
) -> bool {
    let passed = Passed { scope_error, stack };
    // A stack that never left its inline words (most of them) pops with one question an entry;
    // once an entry registers enough to need a chunk, the general loop takes over.
    loop {
        match arena.pop_inline() {
            // SAFETY: the entry was just popped off `arena`; nothing has run or discarded it.
            Top::Entry(popped) => unsafe { run_passed(arena, pending, &passed, popped) },
            Top::Empty => return true,
            Top::Chunked => {
                run_chunked(arena, pending, &passed);
                return false;
            }
        }
    }
}

/// [`run_all`] for an arena with chunks: out of line, so that the loop of a small stack stays
/// small enough to inline where a stack is closed.
#[inline(never)]
fn run_chunked(arena: &Arena, pending: &mut Pending, passed: &Passed<'_>) {
    while let Some(popped) = arena.pop() {
        // SAFETY: the entry was just popped off `arena`; nothing has run or discarded its body.
        unsafe { run_passed(arena, pending, passed, popped) };
    }
}

/// Runs one popped sync entry, catching its panic, and records what it did. The hot path of
/// every unwind loop (the async one too), so it is inlined into each.
///
/// Safety: `popped` was taken off an arena (or tombstoned in it) and its body has not been run
/// or discarded; `stack` is of the type the entry was pushed on.
#[inline]
pub(crate) unsafe fn run_popped(
    arena: &Arena,
    stack: StackRef,
    pending: &mut Pending,
    scope_error: Option<&(dyn Error + 'static)>,
    popped: Popped,
) {
    // SAFETY: forwarded from the caller.
    unsafe { run_passed(arena, pending, &Passed { scope_error, stack }, popped) }
}

/// [`run_popped`] with what every entry of the loop is passed built once, by the loop.
///
/// Safety: as for `run_popped`, with `passed.stack` for `stack`.
#[inline]
pub(crate) unsafe fn run_passed(
    arena: &Arena,
    pending: &mut Pending,
    passed: &Passed<'_>,
    popped: Popped,
) {
    // Taken apart first: only the site is needed after the call.
    let Popped { body, vtable, site } = popped;
    let run = vtable.run;
    #[cfg(feature = "tracing")]
    let timer = crate::trace::start(pending.ending());
    // SAFETY: per the contract the body is run exactly once, here; `run` moves it out of the
    // slot before calling any user code that could push over it.
    let step = panic::catch_unwind(AssertUnwindSafe(|| unsafe { run(body, pending, passed) }));
    let step = step.map(Step::into_rare);
    // Traced as it finished, before its outcome is recorded (returned or reported later).
    #[cfg(feature = "tracing")]
    crate::trace::sync_ran(timer, arena, &site, &step);
    match step {
        Ok(None) => {}
        Ok(Some(rare)) => record(arena, pending, *rare, site),
        Err(payload) => pending.record_panic(payload, Some(&site)),
    }
}

/// `run_popped` for the steps that change something.
#[cold]
#[inline(never)]
fn record(arena: &Arena, pending: &mut Pending, rare: Rare, site: Site) {
    match rare {
        Rare::Failed(error) => pending.record_error(error, site),
        Rare::Suppress => pending.suppress(site),
        // No `Entered` reference can point into the nested arena (the nested stack was moved
        // in by value), so moving its entries disturbs nothing.
        Rare::Splice(nested) => arena.splice(*nested),
    }
}

/// Drops a popped entry's body without running it (a handle's `cancel`), including a nested
/// stack's entries, before returning. A panic of a `Drop` goes on once everything is dropped,
/// or is reported if the thread is already panicking.
///
/// Safety: as for `run_popped`.
pub(crate) unsafe fn discard_popped(popped: Popped) {
    let (discard, body) = (popped.vtable.discard, popped.body);
    // SAFETY: per the contract the body is dropped exactly once, here; a nested arena handed
    // back is dropped here too, which discards its entries in a loop of its own.
    let dropped = panic::catch_unwind(AssertUnwindSafe(|| unsafe { discard(body) }.map(drop)));
    if let Err(payload) = dropped {
        let mut pending = Pending::new(Ending::Abandoned);
        pending.record_panic(payload, Some(&popped.site));
        let _ = pending.finish(None); // no errors: only a panic to resume
    }
}

/// What is left to do once a value was taken back out of its entry and the rest of the entry
/// (a teardown closure) dropped: if that drop panicked, the panic goes on (the value is dropped
/// first, caught), or is reported during a panic and the value returned.
pub(crate) fn value_or_panic<T>(value: T, panic: Option<caught::Payload>, popped: &Popped) -> T {
    let Some(payload) = panic else { return value };
    let site = Some(&popped.site);
    if std::thread::panicking() {
        caught::report_panic(ReportReason::PanicDuringPanic, &*payload, site);
        caught::drop_payload(payload, site);
        return value;
    }
    if let Some(more) = caught::drop_caught(value) {
        caught::report_panic(ReportReason::PanicDuringPanic, &*more, site);
        caught::drop_payload(more, site);
    }
    panic::resume_unwind(payload)
}
