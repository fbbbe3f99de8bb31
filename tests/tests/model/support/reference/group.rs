//! The reference model of the async-only entries (`SEMANTICS.md`, "Async" and "Cancellation
//! and forcing"): two-phase entries and concurrent groups.
//!
//! A group closes its branches at the same time. The model plays the group's polls out: each
//! poll starts as many waiting branches as the limit lets in (in order), then polls every
//! running branch once, in order; a poll of a branch runs its entries until an async one is
//! pending (each async entry of these programs is pending exactly once). So the log shows the
//! branches' entries interleaved exactly as the real group polls them, each branch last in
//! first out. When every branch is done, the group fails with every branch's errors, in branch
//! order; a branch whose close resumed a panic contributes that panic as one error leaf (its
//! pending errors having been reported as lost to it), labelled with the branch.

use super::*;

/// The panic of a forceful phase.
fn force_panic(id: Id) -> Panic {
    Panic::plain(format!("panic-force-{id}"))
}

fn graceful_error(id: Id) -> Error {
    Error::new(None, format!("graceful release failed: err-{id}"))
}

fn forceful_error(id: Id) -> Error {
    Error::new(None, format!("forceful release failed: err-force-{id}"))
}

/// One branch of a group being closed: its own unwind, as by `aclose`, with the ending of the
/// unwind that reached the group (but not its error).
struct Branch {
    label: String,
    stack: Vec<Entry>,
    unwind: Unwind,
    state: State,
    /// The async entry started and pending: its label, what it logs when polled again (an exit
    /// handler logged what it saw when it started), and its result.
    in_flight: Option<(String, Vec<Event>, Result<Step, Panic>)>,
    failures: Vec<Error>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
}

impl Model {
    /// `SEMANTICS.md`, "Cancellation and forcing": the graceful phase runs (logged `Ran`); the
    /// forceful phase runs exactly when it did not succeed. Both phases' errors are kept; a
    /// panic of either goes on as the entry's, and what it would lose is reported.
    pub(super) fn two_phase(
        &mut self,
        id: Id,
        graceful: Beh,
        forceful: Beh,
    ) -> Result<Step, Panic> {
        self.log.push(Event::Ran(id));
        match graceful {
            Beh::Ok => Ok(Step::Done),
            Beh::Fail => {
                self.log.push(Event::Forced(id));
                match forceful {
                    Beh::Ok => Ok(Step::Failed(vec![graceful_error(id)])),
                    Beh::Panic => {
                        self.report(ReportReason::LostToPanic, &graceful_error(id));
                        Err(force_panic(id))
                    }
                    _ => Ok(Step::Failed(vec![graceful_error(id), forceful_error(id)])),
                }
            }
            _ => {
                self.log.push(Event::Forced(id));
                match forceful {
                    Beh::Ok => {}
                    Beh::Panic => self.report_panic(&force_panic(id), None),
                    _ => self.report(ReportReason::LostToPanic, &forceful_error(id)),
                }
                Err(panic_of(id))
            }
        }
    }

    /// A two-phase entry dropped before its graceful phase finished: the forceful phase runs
    /// in `Drop`; its error goes to the report channel (nobody collects it), its panic goes on
    /// (returned) unless the thread is panicking (then reported).
    pub(super) fn forced_in_drop(
        &mut self,
        id: Id,
        forceful: Beh,
        thread_panicking: bool,
    ) -> Option<Panic> {
        self.log.push(Event::Forced(id));
        match forceful {
            Beh::Ok => None,
            Beh::Panic if thread_panicking => {
                self.report_panic(&force_panic(id), None);
                None
            }
            Beh::Panic => Some(force_panic(id)),
            _ => {
                self.report(ReportReason::DropOutsideStack, &forceful_error(id));
                None
            }
        }
    }

    /// A group dropped unstarted drops its branches in order, each a stack dropped without
    /// `aclose` (abandoned; panicked once the thread panics, after a branch's drop panicked).
    /// Returns the first branch's panic, which goes on.
    pub(super) fn drop_branches(
        &mut self,
        branches: Vec<(String, Vec<Entry>)>,
        thread_panicking: bool,
    ) -> Option<Panic> {
        let mut first = None;
        for (_, entries) in branches {
            let panicking = thread_panicking || first.is_some();
            let ending = match panicking {
                true => Ending::Panicked,
                false => Ending::Abandoned,
            };
            let mut unwind = Unwind::new(ending, panicking);
            unwind.dropping_async = true;
            let panic = self.finish_drop_panic(unwind, entries);
            first = first.or(panic);
        }
        first
    }

    /// Closes a group's branches concurrently (see the module's documentation).
    pub(super) fn run_group(
        &mut self,
        limit: usize,
        branches: Vec<(String, Vec<Entry>)>,
        ending: Ending,
    ) -> Result<Step, Panic> {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let mut branches: Vec<Branch> = branches
            .into_iter()
            .map(|(label, stack)| Branch {
                label,
                stack,
                unwind: Unwind::new(ending, false),
                state: State::Waiting,
                in_flight: None,
                failures: Vec::new(),
            })
            .collect();
        // One poll of the group; a branch that finished frees a place, taken at once.
        while !self.poll_group(limit, &mut branches) {
            self.pending_points += 1;
        }
        let leaves: Vec<Error> = branches.into_iter().flat_map(|b| b.failures).collect();
        Ok(match leaves.is_empty() {
            true => Step::Done,
            false => Step::Failed(leaves),
        })
    }

    /// One poll of the group future: `true` once every branch is done.
    fn poll_group(&mut self, limit: usize, branches: &mut [Branch]) -> bool {
        let count =
            |branches: &[Branch], state| branches.iter().filter(|b| b.state == state).count();
        loop {
            let running = count(branches, State::Running);
            let waiting = branches.iter_mut().filter(|b| b.state == State::Waiting);
            for branch in waiting.take(limit.saturating_sub(running)) {
                branch.state = State::Running;
            }
            let mut finished = false;
            for branch in branches.iter_mut().filter(|b| b.state == State::Running) {
                if self.poll_branch(branch) {
                    branch.state = State::Done;
                    finished = true;
                }
            }
            if count(branches, State::Done) == branches.len() {
                return true;
            }
            if !finished || count(branches, State::Waiting) == 0 {
                return false;
            }
        }
    }

    /// One poll of a branch's `aclose`: finishes the async entry in flight, then runs entries
    /// until the next async one is pending (`false`) or none is left (`true`, the branch's
    /// failures kept).
    fn poll_branch(&mut self, branch: &mut Branch) -> bool {
        loop {
            if let Some((label, tail, result)) = branch.in_flight.take() {
                self.log.extend(tail);
                match result {
                    Ok(step) => self.record(&mut branch.unwind, step, Some(&label)),
                    Err(panic) => self.record_panic(&mut branch.unwind, panic, Some(&label)),
                }
            }
            let Some(entry) = branch.stack.pop() else {
                let unwind =
                    std::mem::replace(&mut branch.unwind, Unwind::new(Ending::Succeeded, false));
                branch.failures = match self.finish(unwind) {
                    Finished::Ok => Vec::new(),
                    Finished::Errors(errors) => errors,
                    // The branch's close resumed a panic: the group keeps it as an error leaf
                    // and drops its payload (a `BadPayload`'s drop panics, reported).
                    Finished::Panic(panic) => {
                        let leaf = Error::new(Some(branch.label.clone()), panic.reported());
                        if let Some(id) = panic.bad_payload {
                            let message =
                                format!("dropping a panic payload panicked: payload-drop-{id}");
                            self.report(
                                ReportReason::PayloadDropPanicked,
                                &Error::new(None, message),
                            );
                        }
                        vec![leaf]
                    }
                };
                return true;
            };
            if !entry.is_async() {
                branch.stack.push(entry);
                self.run_one(&mut branch.unwind, &mut branch.stack);
                continue;
            }
            // Started: an exit handler's `exit` is called now and logs what it sees; everything
            // else happens when the entry is polled again.
            let label = label(entry.id());
            let seen_now = matches!(
                entry,
                Entry::Leaf(Spec::Exit { .. } | Spec::Context { .. }, _)
            );
            let mark = self.log.len() + usize::from(seen_now);
            let result = self.run_entry(&branch.unwind, entry, &mut branch.stack);
            let tail = self.log.split_off(mark);
            branch.in_flight = Some((label, tail, result));
            return false;
        }
    }
}
