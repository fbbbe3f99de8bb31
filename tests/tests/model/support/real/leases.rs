//! Shared values and hot-swap slots on the real stack (`SEMANTICS.md`, "Shared leases and
//! slots"): the teardowns, a slot filled and ended, and the [`World`] of a program: its extra
//! stacks, which take leases, and the `Shared`s it keeps.

use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::{BoxError, CleanupError, ExitStack, Shared};

use super::{act, close, in_panic, log, ran};
use crate::support::{drop_quietly, settle, shown_error};
use crate::support::{Beh, Event, ExtraEnd, ExtraLease, Fill, Id, Out, SlotEnd};

/// The teardown of slot `id`'s values, or of shared value `id`.
pub(in crate::support) fn slot_teardown(
    id: Id,
    beh: Beh,
) -> impl FnOnce(usize) -> Result<(), BoxError> {
    move |n| {
        log(Event::Released(id, n));
        act(id, beh)
    }
}

/// What a `replace` or `clear` returned (or the panic that came out of it).
pub(in crate::support) fn out_one(result: std::thread::Result<Result<(), CleanupError>>) -> Out {
    match result {
        Ok(Ok(())) => Out::Ok,
        Ok(Err(error)) => {
            let shown = shown_error(&error);
            drop_quietly(error);
            Out::Errors(vec![shown])
        }
        Err(payload) => Out::Panic(settle(payload)),
    }
}

/// Runs `f` inside a `Drop` during a panic when `panicking` (directly if the thread already
/// panics).
pub(in crate::support) fn maybe_in_panic(panicking: bool, f: impl FnOnce()) {
    match panicking && !std::thread::panicking() {
        true => in_panic(f),
        false => f(),
    }
}

/// Takes a slot on `stack`, labelled `e{id}`, fills it and ends it (see [`Spec::Slot`]).
pub(super) fn fill_slot(stack: &ExitStack<'static>, id: Id, fills: &[Fill], end: SlotEnd) {
    let mut slot = stack.slot::<usize>().label(format!("e{id}"));
    for (n, fill) in (1..).zip(fills) {
        maybe_in_panic(fill.in_panic, || {
            let teardown = slot_teardown(id, fill.beh);
            let result = catch_unwind(AssertUnwindSafe(|| slot.replace(n, teardown)));
            log(Event::Swapped {
                id,
                n,
                out: out_one(result),
            });
        });
    }
    match end {
        SlotEnd::Keep => {}
        SlotEnd::Clear => {
            let result = catch_unwind(AssertUnwindSafe(|| slot.clear()));
            let out = out_one(result);
            log(Event::Swapped { id, n: 0, out });
        }
        // The last value stays in the slot even if releasing the one before it failed.
        SlotEnd::Take => assert_eq!(slot.take(), (!fills.is_empty()).then_some(fills.len())),
    }
}

/// The teardown of shared value `id`: logs [`Event::Ran`], then does `beh`.
pub(in crate::support) fn shared_teardown(
    beh: Beh,
) -> impl FnOnce(Id, &exitstack::Exit<'_>) -> Result<(), BoxError> + Send {
    move |id, _| {
        ran(id);
        act(id, beh)
    }
}

/// The future of an async teardown in the model.
type TeardownFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BoxError>> + Send>>;

/// The async teardown of shared value `id`: pending once, then as [`shared_teardown`].
pub(in crate::support) fn shared_async_teardown(
    beh: Beh,
) -> impl FnOnce(Id, &exitstack::Exit<'_>) -> TeardownFuture + Send {
    move |id, _| {
        Box::pin(async move {
            exitstack_tests::executor::yield_once().await;
            ran(id);
            act(id, beh)
        })
    }
}

/// A shared value `id` (see [`Spec::Share`]), not yet leased to any stack.
pub(in crate::support) fn new_shared(id: Id, beh: Beh, async_teardown: bool) -> Shared<Id> {
    match async_teardown {
        true => Shared::new_async(id, shared_async_teardown(beh)),
        false => Shared::new(id, shared_teardown(beh)),
    }
}

/// A value entered on an extra stack that holds a plain lease (dropped with it).
struct Holder(#[allow(dead_code)] Shared<Id>);

/// Drops a plain `Shared` of value `id` (logged, with the panic that came out).
fn drop_shared(id: Id, shared: Shared<Id>) {
    let result = catch_unwind(AssertUnwindSafe(move || drop(shared)));
    log(Event::SharedDropped(id, result.err().map(settle)));
}

/// The extra stacks of a program and the `Shared`s it keeps (see [`Spec::Share`]).
pub(in crate::support) struct World {
    extras: Vec<Option<(ExitStack<'static>, ExtraEnd)>>,
    kept: Vec<(Id, Shared<Id>)>,
}

impl World {
    pub(in crate::support) fn new(ends: &[ExtraEnd]) -> Self {
        World {
            extras: ends
                .iter()
                .map(|end| Some((ExitStack::new(), *end)))
                .collect(),
            kept: Vec::new(),
        }
    }

    /// Gives leases of `shared` to the extra stacks, then keeps or drops it.
    pub(in crate::support) fn lease(
        &mut self,
        id: Id,
        leases: &[ExtraLease],
        keep: bool,
        shared: Shared<Id>,
    ) {
        for lease in leases {
            let count = self.extras.len();
            let Some(Some((extra, _))) = self.extras.get(lease.stack % count.max(1)) else {
                continue;
            };
            match lease.holder {
                true => drop(extra.enter(Holder(shared.clone())).label(format!("e{id}"))),
                false => drop(extra.enter_shared(shared.clone()).label(format!("e{id}"))),
            }
        }
        match keep {
            true => self.kept.push((id, shared)),
            false => drop(shared), // never the last: the stack's entry holds one
        }
    }

    /// [`Op::EndExtra`].
    pub(in crate::support) fn end_extra(&mut self, index: usize) {
        if self.extras.is_empty() {
            return;
        }
        let k = index % self.extras.len();
        if let Some((mut extra, end)) = self.extras[k].take() {
            match end {
                ExtraEnd::Close => log(Event::ExtraClosed(k, close(&mut extra))),
                ExtraEnd::Drop => {
                    let result = catch_unwind(AssertUnwindSafe(move || drop(extra)));
                    log(Event::ExtraDropped(k, result.err().map(settle)));
                }
            }
        }
    }

    /// [`Op::LetGo`].
    pub(in crate::support) fn let_go(&mut self, index: usize, release: bool) {
        if self.kept.is_empty() {
            return;
        }
        let (id, shared) = self.kept.remove(index % self.kept.len());
        match release {
            true => {
                let result = catch_unwind(AssertUnwindSafe(move || shared.release()));
                log(Event::SharedReleased(id, out_one(result)));
            }
            false => drop_shared(id, shared),
        }
    }

    /// Ends the extra stacks left, in order, then drops the `Shared`s kept, in order.
    pub(in crate::support) fn finish(mut self) {
        for k in 0..self.extras.len() {
            self.end_extra(k);
        }
        for (id, shared) in std::mem::take(&mut self.kept) {
            drop_shared(id, shared);
        }
    }
}
