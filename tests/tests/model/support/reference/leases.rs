//! The reference model of shared leases and hot-swap slots (`SEMANTICS.md`, "Shared leases and
//! slots"): a count of leases per shared value decides which let-go is the last, and so in
//! which context (a stack's unwind, a plain `Shared`'s drop or `release`) the teardown runs,
//! once; a slot releases the value it replaces at once, and its last value in its place.

use super::*;

impl Model {
    /// `share` on the main stack (or `Shared::new` and a labelled `enter_shared` when the
    /// program holds the handle), leases on the extra stacks still open, and the `Shared` kept or
    /// dropped (never the last: the main stack's entry holds one). Returns the main entry.
    pub(super) fn share(
        &mut self,
        id: Id,
        beh: Beh,
        leases: &[ExtraLease],
        keep: bool,
        async_teardown: bool,
        labelled: bool,
    ) -> Entry {
        let mut count = 1;
        let extras = self.extras.len().max(1);
        for lease in leases {
            // A holder (`enter` of a value holding a plain `Shared`) lets go in its drop,
            // inside the stack's release: its error joins that stack's result
            // (`error_in_drop`), as a lease entry's does.
            if let Some(Some((entries, _))) = self.extras.get_mut(lease.stack % extras) {
                entries.push(Entry::Lease {
                    id,
                    labelled: true,
                    holder: lease.holder,
                    on_async: false,
                });
                count += 1;
            }
        }
        if keep {
            self.kept.push(id);
            count += 1;
        }
        self.shared.insert(id, (beh, async_teardown, count));
        Entry::Lease {
            id,
            labelled,
            holder: false,
            on_async: self.async_stack,
        }
    }

    fn is_async(&self, id: Id) -> bool {
        self.shared[&id].1
    }

    /// `SEMANTICS.md`, "Async": an async teardown that cannot run where the last lease goes.
    pub(super) fn report_not_run_unlabelled(&mut self) {
        let error = Error::new(None, exitstack::NotRunError.to_string());
        self.report(ReportReason::AsyncNotRun, &error);
    }

    /// Lets go of one lease of `id`: whether it was the last (the teardown runs now).
    fn let_go(&mut self, id: Id) -> bool {
        let (_, _, count) = self.shared.get_mut(&id).expect("a shared value");
        *count -= 1;
        *count == 0
    }

    pub(super) fn teardown(&mut self, id: Id) -> Result<Step, Panic> {
        let beh = self.shared[&id].0;
        self.fallible(id, beh)
    }

    /// A lease entry reached by an unwind (or run now): the teardown runs here if it was the
    /// last, as the entry's own cleanup. An async teardown: registered as the next entry on an
    /// async stack (`stack`), failed as not run on a sync one, reported as not run by a
    /// holder's drop (a plain `Shared`'s).
    pub(super) fn lease_entry(
        &mut self,
        id: Id,
        holder: bool,
        on_async: bool,
        stack: &mut Vec<Entry>,
    ) -> Result<Step, Panic> {
        if !self.let_go(id) {
            return Ok(Step::Done);
        }
        if !self.is_async(id) {
            return self.teardown(id);
        }
        if holder {
            self.report_not_run_unlabelled();
            return Ok(Step::Done);
        }
        if on_async {
            stack.push(Entry::AsyncTeardown(id));
            return Ok(Step::Done);
        }
        let error = Error::new(None, exitstack::NotRunError.to_string());
        Ok(Step::Failed(vec![error]))
    }

    /// A plain `Shared` dropped outside any stack's release: the teardown's error goes to
    /// `error_in_drop` (reported, rule H3 for its drop), its panic goes on, or is reported
    /// during a panic. Returns the panic that comes out of the drop.
    pub(super) fn drop_plain(&mut self, id: Id, thread_panicking: bool) -> Option<String> {
        if !self.let_go(id) {
            return None;
        }
        if self.is_async(id) {
            self.report_not_run_unlabelled();
            return None;
        }
        match self.teardown(id) {
            Ok(Step::Done | Step::Suppress) => None,
            Ok(Step::Failed(errors)) => self
                .report_and_drop(&errors, ReportReason::DropOutsideStack, thread_panicking)
                .map(|panic| panic.message),
            Err(panic) if thread_panicking => {
                self.report_panic(&panic, None);
                None
            }
            Err(panic) => Some(panic.message),
        }
    }

    /// `Shared::release`: the teardown's error is returned, its panic goes on.
    fn release_plain(&mut self, id: Id) -> Out {
        if !self.let_go(id) {
            return Out::Ok;
        }
        if self.is_async(id) {
            let error = Error::new(None, exitstack::NotRunError.to_string());
            return Finished::Errors(vec![error]).out();
        }
        match self.teardown(id) {
            Ok(Step::Done | Step::Suppress) => Out::Ok,
            Ok(Step::Failed(errors)) => Finished::Errors(errors).out(),
            Err(panic) => Out::Panic(panic.message),
        }
    }

    /// `Op::EndExtra`: closes or drops an extra stack (a sync `ExitStack`).
    pub(super) fn end_extra(&mut self, index: usize) {
        if self.extras.is_empty() {
            return;
        }
        let k = index % self.extras.len();
        let Some((entries, end)) = self.extras[k].take() else {
            return;
        };
        match end {
            ExtraEnd::Close => {
                let out = self.close(entries, false);
                self.log.push(Event::ExtraClosed(k, out));
            }
            ExtraEnd::Drop => {
                let unwind = Unwind::new(Ending::Abandoned, false);
                let panic = self.finish_drop(unwind, entries);
                self.log.push(Event::ExtraDropped(k, panic));
            }
        }
    }

    /// `Op::LetGo`: a kept `Shared` released or dropped.
    pub(super) fn let_go_kept(&mut self, index: usize, release: bool) {
        if self.kept.is_empty() {
            return;
        }
        let id = self.kept.remove(index % self.kept.len());
        let event = match release {
            true => Event::SharedReleased(id, self.release_plain(id)),
            false => Event::SharedDropped(id, self.drop_plain(id, false)),
        };
        self.log.push(event);
    }

    /// After the program: the extra stacks left end in order, then the kept `Shared`s drop.
    pub(super) fn finish_world(&mut self) {
        for k in 0..self.extras.len() {
            self.end_extra(k);
        }
        for id in std::mem::take(&mut self.kept) {
            let panic = self.drop_plain(id, false);
            self.log.push(Event::SharedDropped(id, panic));
        }
    }

    /// `slot` and its replaces (value `n` from 1), then `clear` or `take`: each replace
    /// installs the new value, then releases the old one now, returning its error (its panic
    /// goes on, or is reported during a panic, labelled with the slot).
    /// An async slot (`is_async`) is never filled inside a panic (an async release's panic
    /// always goes on to the caller).
    pub(super) fn fill_slot(&mut self, id: Id, fills: &[Fill], end: SlotEnd, is_async: bool) {
        let mut current: Option<(usize, Beh)> = None;
        for (n, fill) in (1..).zip(fills) {
            let old = current.replace((n, fill.beh));
            let in_panic = !is_async && (fill.in_panic || self.registering_in_panic);
            let out = self.release_now(id, old, in_panic);
            self.log.push(Event::Swapped { id, n, out });
        }
        if end == SlotEnd::Clear {
            let in_panic = !is_async && self.registering_in_panic;
            let out = self.release_now(id, current, in_panic);
            self.log.push(Event::Swapped { id, n: 0, out });
        }
    }

    fn release_now(&mut self, id: Id, old: Option<(usize, Beh)>, in_panic: bool) -> Out {
        let Some((n, beh)) = old else {
            return Out::Ok;
        };
        self.log.push(Event::Released(id, n));
        match outcome(id, beh) {
            Ok(Step::Done | Step::Suppress) => Out::Ok,
            Ok(Step::Failed(errors)) => {
                let labelled = errors.into_iter().map(|error| Error {
                    label: Some(label(id)),
                    ..error
                });
                Finished::Errors(labelled.collect()).out()
            }
            Err(panic) if in_panic => {
                self.report_panic(&panic, Some(label(id)));
                Out::Ok
            }
            Err(panic) => Out::Panic(panic.message),
        }
    }

    /// The slot's entry at unwind: releases the value left in it, if any.
    pub(super) fn slot_unwound(
        &mut self,
        id: Id,
        fills: &[Fill],
        end: SlotEnd,
    ) -> Result<Step, Panic> {
        match (end, fills.len()) {
            (SlotEnd::Keep, n) if n > 0 => {
                self.log.push(Event::Released(id, n));
                outcome(id, fills[n - 1].beh)
            }
            _ => Ok(Step::Done),
        }
    }
}
