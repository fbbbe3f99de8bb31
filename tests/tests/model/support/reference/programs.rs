//! The reference model's drivers of whole programs: the ops on a stack, how a stack program
//! finishes (close, drop, drop during a panic, a cut-off async close), and the scope function.

use super::*;

impl Model {
    /// Push, cancel and run-now; the operations a scope body can do too.
    fn handle_op(&mut self, op: &Op, stack: &mut Vec<Entry>, held: &mut Vec<Id>) {
        match op {
            Op::Push {
                spec:
                    Spec::Share {
                        id,
                        beh,
                        leases,
                        keep,
                        async_teardown,
                    },
                hold,
            } => {
                if *hold {
                    held.push(*id);
                }
                // `share` and `share_async` give no handle to label the entry; a sync stack's
                // unheld lease with an async teardown is an unlabelled `enter_shared`.
                let entry = self.share(*id, *beh, leases, *keep, *async_teardown, *hold);
                stack.push(entry);
            }
            Op::Push { spec, hold } => {
                if let Some(entry) = self.build(spec, self.async_stack) {
                    if *hold && spec.holdable() {
                        held.push(entry.id());
                    }
                    stack.push(entry);
                }
            }
            Op::EndExtra(index) => self.end_extra(*index),
            Op::LetGo { index, release } => self.let_go_kept(*index, *release),
            Op::Cancel(index) | Op::RunNow(index) | Op::InPanic { index, .. }
                if !held.is_empty() =>
            {
                let id = held.remove(index % held.len());
                let at = stack.iter().position(|entry| entry.id() == id);
                let entry = stack.remove(at.expect("a held entry is still registered"));
                let in_panic = matches!(op, Op::InPanic { .. });
                if let Op::RunNow(_) | Op::InPanic { run: true, .. } = op {
                    // Runs as if the stack were closed; a panic goes straight to the caller,
                    // unless the thread is panicking (rule H7): then it is reported.
                    let mut unwind = Unwind::new(Ending::Succeeded, in_panic);
                    let label = entry.label();
                    let label = label.as_deref();
                    // An async stack's handle runs its entry in a stack of its own, closed: an
                    // async teardown the last lease registers is awaited there.
                    let mut own = Vec::new();
                    let lease = matches!(entry, Entry::Lease { on_async: true, .. });
                    let pushed_on = if lease { &mut own } else { &mut *stack };
                    match self.run_entry(&unwind, entry, pushed_on) {
                        Err(panic) => self.record_panic(&mut unwind, panic, label),
                        Ok(step) => self.record(&mut unwind, step, label),
                    }
                    self.run_all(&mut unwind, &mut own);
                    let out = self.finish(unwind).out();
                    self.log.push(Event::RunNow(id, out));
                } else if let Entry::Lease { .. } = entry {
                    // A cancelled lease is dropped as a plain `Shared`.
                    let panic = self.drop_plain(id, in_panic);
                    self.log.push(Event::SharedDropped(id, panic));
                }
            }
            Op::Cancel(_) | Op::RunNow(_) | Op::InPanic { .. } => {}
            Op::Close | Op::PopAll => unreachable!("handled by the stack program"),
        }
    }

    pub(super) fn stack_program(&mut self, ops: &[Op], finish: Finish) {
        let mut stack = Vec::new();
        let mut held = Vec::new();
        let mut moved = Vec::new();
        for op in ops {
            match op {
                Op::Close => {
                    held.clear();
                    let out = self.close(std::mem::take(&mut stack), self.timer_panics);
                    self.log.push(Event::Closed(out));
                }
                // `SEMANTICS.md`, "Exactly once": everything moves; the original is empty and
                // usable.
                Op::PopAll => {
                    held.clear();
                    moved.push(std::mem::take(&mut stack));
                }
                op => self.handle_op(op, &mut stack, &mut held),
            }
        }
        match finish {
            Finish::Close => {
                let out = self.close(stack, self.timer_panics);
                self.log.push(Event::Closed(out));
            }
            Finish::Drop => {
                let panic = self.drop_stack(stack, false);
                self.log.push(Event::Dropped(panic));
            }
            Finish::DropDuringPanic => {
                let resumed = self.drop_stack(stack, true);
                assert!(resumed.is_none(), "no panic is resumed during a panic");
                self.log.push(Event::Dropped(Some("outer".to_owned())));
            }
            Finish::CancelThenClose | Finish::CancelThenDrop => self.cut_off(stack, finish),
            // `SEMANTICS.md`, "Cancellation and forcing": as a scope whose body failed.
            Finish::CloseWith => {
                let out = self.scope_unwind(stack, Body::Err, self.timer_panics);
                self.log.push(Event::Scope(out));
            }
        }
        for stack in moved {
            let out = self.close(stack, false);
            self.log.push(Event::Moved(out));
        }
    }

    /// `SEMANTICS.md`, "Async": `aclose` polled once runs up to the first async entry and starts
    /// it; a new `aclose` resumes from there, a drop reports the entry in flight and carries on as
    /// a drop (abandoned) with the errors already pending.
    fn cut_off(&mut self, mut stack: Vec<Entry>, finish: Finish) {
        let mut unwind = Unwind::new(Ending::Succeeded, false);
        unwind.timer_panics = self.timer_panics;
        if finish == Finish::CancelThenClose {
            // The first poll stops where the close is first pending (an async leaf, a group not
            // finished in one poll); the next `aclose` goes on from there: one close's events.
            let before = self.pending_points;
            while !stack.is_empty() && self.pending_points == before {
                self.run_one(&mut unwind, &mut stack);
            }
            let pended = self.pending_points > before;
            self.run_all(&mut unwind, &mut stack);
            let out = self.finish(unwind).out();
            self.log.push(Event::Closed(out));
            if !pended {
                self.log.push(Event::Closed(Out::Ok));
            }
            return;
        }
        let in_flight = loop {
            match stack.pop() {
                None => break None,
                Some(entry) if entry.pends() => break Some(entry),
                Some(entry) => {
                    stack.push(entry);
                    self.run_one(&mut unwind, &mut stack);
                }
            }
        };
        let Some(entry) = in_flight else {
            let out = self.finish(unwind).out();
            self.log.push(Event::Closed(out));
            self.log.push(Event::Dropped(None));
            return;
        };
        let id = entry.id();
        if let Entry::Leaf(Spec::Exit { .. } | Spec::Context { .. }, _) = entry {
            // Its `exit` was called when it started (the future is what was cut off).
            self.log.push(Event::Seen {
                id,
                error: current_error(&unwind),
                panicking: unwind.panic.is_some(),
                ending: Ending::Succeeded,
            });
        }
        let entry_label = entry.label();
        if self.timer_panics {
            // Rule H6: its timer panicked when it started.
            self.record_panic(&mut unwind, timer_panic(), entry_label.as_deref());
        }
        // `SEMANTICS.md`, "Cancellation and forcing": a two-phase entry dropped in flight runs
        // its forceful phase.
        if let Entry::Leaf(Spec::TwoPhase { forceful, .. }, _) = entry {
            if let Some(panic) = self.forced_in_drop(id, forceful, false) {
                self.record_panic(&mut unwind, panic, Some(&label(id)));
            }
        }
        match entry_label {
            Some(_) => self.report_not_run(id),
            None => self.report_not_run_unlabelled(),
        }
        unwind.ending = Ending::Abandoned;
        unwind.dropping_async = true;
        let panic = self.finish_drop(unwind, stack);
        self.log.push(Event::Dropped(panic));
    }

    /// `SEMANTICS.md`, "Errors": the scope's result says completed, suppressed or failed (with
    /// everything). A cancelled async scope unwinds in the scope future's drop.
    pub(super) fn scope_program(&mut self, ops: &[Op], body: Body) {
        let mut stack = Vec::new();
        let mut held = Vec::new();
        for op in ops {
            self.handle_op(op, &mut stack, &mut held);
        }
        if body == Body::Cancelled {
            // `SEMANTICS.md`, "Cancellation and forcing": sync entries run (error-only ones
            // too), async ones are reported, as in any dropped async stack.
            let mut unwind = Unwind::new(Ending::Cancelled, false);
            unwind.dropping_async = true;
            let panic = self.finish_drop(unwind, stack);
            self.log.push(Event::Dropped(panic));
            return;
        }
        let out = self.scope_unwind(stack, body, false);
        self.log.push(Event::Scope(out));
    }

    /// The unwind at the end of a scope whose body ended as `body` (also `close_with`).
    fn scope_unwind(&mut self, mut stack: Vec<Entry>, body: Body, timer_panics: bool) -> ScopeOut {
        let mut unwind = match body {
            Body::Ok => Unwind::new(Ending::Succeeded, false),
            Body::Err => Unwind::new(Ending::Failed, false),
            Body::Panic => Unwind::new(Ending::Panicked, false),
            Body::Cancelled => unreachable!("unwound by the scope future's drop"),
        };
        unwind.timer_panics = timer_panics;
        match body {
            Body::Err => unwind.scope_error = Some("body".to_owned()),
            Body::Panic => unwind.panic = Some(Panic::plain("body-panic".to_owned())),
            Body::Ok | Body::Cancelled => {}
        }
        self.run_all(&mut unwind, &mut stack);
        let suppressed = unwind.scope_suppressed;
        let cleanup = match self.finish(unwind).out() {
            Out::Panic(message) => return ScopeOut::Panic(message),
            Out::Ok => Vec::new(),
            Out::Errors(errors) => errors,
        };
        let failed = body == Body::Err;
        match (body, suppressed, cleanup.is_empty()) {
            (Body::Ok, _, true) => ScopeOut::Completed,
            (Body::Err, true, true) => ScopeOut::Suppressed,
            _ => ScopeOut::Failed {
                body: failed && !suppressed,
                suppressed: failed && suppressed,
                cleanup,
            },
        }
    }
}
