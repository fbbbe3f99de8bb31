//! The reference model: a plain `Vec` of entries and a few lines per rule of
//! `/work/shared/reference/semantics.md`, written from the rules, not from the runtime's code.
//! It predicts the whole event log of a [`Program`].

use exitstack::report::ReportReason;
use exitstack::Ending;

use super::{Beh, Body, Event, ExitBeh, Finish, Id, Op, Out, Program, ScopeOut, Spec};

/// A registered entry. Nested stacks are built (their contexts entered) when registered.
enum Entry {
    /// A leaf or a `WithStack` (whose children are registered only when it runs); `true`
    /// when registered in its async form.
    Leaf(Spec, bool),
    /// `push_stack`: the entries run in this stack's unwind, with its state.
    Pushed { id: Id, entries: Vec<Entry> },
    /// `enter_closing` of a stack: closed on its own, its result becomes this entry's.
    Closing { id: Id, entries: Vec<Entry> },
}

impl Entry {
    fn id(&self) -> Id {
        match self {
            Entry::Leaf(spec, _) => spec.id(),
            Entry::Pushed { id, .. } | Entry::Closing { id, .. } => *id,
        }
    }
}

/// A cleanup error: label (if any) and message.
#[derive(Clone)]
struct Error {
    label: Option<String>,
    message: String,
}

impl Error {
    fn shown(&self) -> String {
        match &self.label {
            Some(label) => format!("cleanup `{label}` failed: {}", self.message),
            None => format!("cleanup failed: {}", self.message),
        }
    }
}

enum Step {
    Done,
    Failed(Vec<Error>),
    Suppress,
}

enum Finished {
    Ok,
    Errors(Vec<Error>),
    Panic(String),
}

impl Finished {
    fn out(self) -> Out {
        match self {
            Finished::Ok => Out::Ok,
            Finished::Errors(errors) => Out::Errors(errors.iter().map(Error::shown).collect()),
            Finished::Panic(message) => Out::Panic(message),
        }
    }
}

/// The state of one unwind (rules 9-12).
struct Unwind {
    ending: Ending,
    scope_error: Option<String>,
    scope_suppressed: bool,
    errors: Vec<Error>,
    panic: Option<String>,
    thread_panicking: bool,
    /// An async stack being dropped: async entries are reported, not run (rule 17).
    dropping_async: bool,
}

impl Unwind {
    fn new(ending: Ending, thread_panicking: bool) -> Self {
        Unwind {
            ending,
            scope_error: None,
            scope_suppressed: false,
            errors: Vec::new(),
            panic: None,
            thread_panicking,
            dropping_async: false,
        }
    }

    fn record(&mut self, step: Step, label: &str) {
        match step {
            Step::Done => {}
            // Rule 10: suppressing clears the scope's error and every earlier cleanup error;
            // once the scope's error is handled, the rest unwinds as a success.
            Step::Suppress => {
                if self.scope_error.take().is_some() {
                    self.scope_suppressed = true;
                    if self.ending == Ending::Failed {
                        self.ending = Ending::Closed;
                    }
                }
                self.errors.clear();
            }
            Step::Failed(errors) => self.errors.extend(errors.into_iter().map(|mut error| {
                error.label.get_or_insert_with(|| label.to_owned());
                error
            })),
        }
    }
}

/// Predicts the log of a program.
#[derive(Default)]
pub struct Model {
    pub log: Vec<Event>,
    /// Whether the program runs on an `AsyncExitStack` (see [`super::runs_async`]).
    async_stack: bool,
}

/// Rule 9: what an exit handler sees: the latest pending error, else the scope's own.
fn current_error(unwind: &Unwind) -> Option<String> {
    match unwind.errors.last() {
        Some(error) => Some(error.message.clone()),
        None => unwind.scope_error.clone(),
    }
}

fn label(id: Id) -> String {
    format!("e{id}")
}

fn failure(id: Id) -> Error {
    Error {
        label: None,
        message: format!("err-{id}"),
    }
}

fn panic_of(id: Id) -> String {
    format!("panic-{id}")
}

impl Model {
    /// Predicts the whole log of `program`.
    pub fn predict(program: &Program) -> Vec<Event> {
        Model::predict_on(program, false)
    }

    /// Predicts the log of `program` run on an `AsyncExitStack`.
    pub fn predict_async(program: &Program) -> Vec<Event> {
        Model::predict_on(program, true)
    }

    fn predict_on(program: &Program, async_stack: bool) -> Vec<Event> {
        let mut model = Model {
            log: Vec::new(),
            async_stack,
        };
        match program {
            Program::Stack { ops, finish } => model.stack_program(ops, *finish),
            Program::Scope { ops, body } => model.scope_program(ops, *body),
        }
        model.log
    }

    fn report(&mut self, reason: ReportReason, error: &Error) {
        self.log.push(Event::Report(reason, error.shown()));
    }

    /// Registers `spec`; rule 7: a failed enter registers nothing. Async forms only where an
    /// async stack is the one registered on (`allow_async`).
    fn build(&mut self, spec: &Spec, allow_async: bool) -> Option<Entry> {
        match spec {
            Spec::Context {
                id,
                enter_fails: true,
                ..
            } => {
                self.log.push(Event::EnterFailed(*id));
                None
            }
            Spec::PushStack { id, children } => Some(Entry::Pushed {
                id: *id,
                entries: self.build_all(children, allow_async),
            }),
            Spec::CloseNested { id, children } => Some(Entry::Closing {
                id: *id,
                entries: self.build_all(children, false),
            }),
            leaf => {
                let is_async = allow_async && super::runs_async(leaf);
                Some(Entry::Leaf(leaf.clone(), is_async))
            }
        }
    }

    fn build_all(&mut self, specs: &[Spec], allow_async: bool) -> Vec<Entry> {
        let build = |spec| self.build(spec, allow_async);
        specs.iter().filter_map(build).collect()
    }

    fn fallible(&mut self, id: Id, beh: Beh) -> Result<Step, String> {
        self.log.push(Event::Ran(id));
        match beh {
            Beh::Ok => Ok(Step::Done),
            Beh::Fail => Ok(Step::Failed(vec![failure(id)])),
            Beh::Panic => Err(panic_of(id)),
        }
    }

    fn plain(&mut self, id: Id, panic: bool) -> Result<Step, String> {
        self.fallible(id, if panic { Beh::Panic } else { Beh::Ok })
    }

    /// Runs one entry; `Err` is the message of its panic. Entries it registers go on `stack`.
    fn run_entry(
        &mut self,
        unwind: &Unwind,
        entry: Entry,
        stack: &mut Vec<Entry>,
    ) -> Result<Step, String> {
        let spec = match entry {
            // Rule 1/4: a pushed stack's entries go on top and run next, in their own order.
            Entry::Pushed { entries, .. } => {
                stack.extend(entries);
                return Ok(Step::Done);
            }
            Entry::Closing { entries, .. } => {
                let mut inner = Unwind::new(Ending::Closed, unwind.thread_panicking);
                inner.dropping_async = false; // a sync stack, closed
                let mut entries = entries;
                self.run_all(&mut inner, &mut entries);
                return match self.finish(inner) {
                    Finished::Ok => Ok(Step::Done),
                    Finished::Errors(errors) => Ok(Step::Failed(errors)),
                    Finished::Panic(message) => Err(message),
                };
            }
            Entry::Leaf(spec, true) if unwind.dropping_async => {
                // Rule 17: dropped without `aclose`, an async entry is reported, never lost.
                let error = Error {
                    label: Some(label(spec.id())),
                    message: exitstack::NotRunError.to_string(),
                };
                self.report(ReportReason::AsyncNotRun, &error);
                return Ok(Step::Done);
            }
            Entry::Leaf(spec, _) => spec,
        };
        match spec {
            Spec::Callback { id, panic } => self.plain(id, panic),
            Spec::Try { id, beh } | Spec::Closing { id, beh } | Spec::Guard { id, beh } => {
                self.fallible(id, beh)
            }
            // Rule 14: error-only / success-only entries follow how the scope ended.
            Spec::OnError { id, panic } if !unwind.ending.is_success() => self.plain(id, panic),
            Spec::OnSuccess { id, panic } if unwind.ending.is_success() => self.plain(id, panic),
            Spec::OnError { .. } | Spec::OnSuccess { .. } => Ok(Step::Done),
            Spec::Exit { id, beh } | Spec::Context { id, beh, .. } => {
                self.log.push(Event::Seen {
                    id,
                    error: current_error(unwind),
                    panicking: unwind.panic.is_some() || unwind.thread_panicking,
                    ending: unwind.ending,
                });
                match beh {
                    ExitBeh::Propagate => Ok(Step::Done),
                    ExitBeh::Suppress => Ok(Step::Suppress),
                    ExitBeh::Fail => Ok(Step::Failed(vec![failure(id)])),
                    ExitBeh::Panic => Err(panic_of(id)),
                }
            }
            Spec::Enter { id, report, panic } => {
                self.log.push(Event::Ran(id));
                let collected: Vec<Error> = report.then(|| failure(id)).into_iter().collect();
                if panic {
                    // What the drop collected before panicking cannot be returned: reported.
                    for error in &collected {
                        self.report(ReportReason::LostToPanic, error);
                    }
                    return Err(panic_of(id));
                }
                Ok(match collected.is_empty() {
                    true => Step::Done,
                    false => Step::Failed(collected),
                })
            }
            // Rule 4: entries registered during the unwind run next.
            Spec::WithStack {
                id,
                panic,
                children,
            } => {
                self.log.push(Event::Ran(id));
                for child in &children {
                    // Registered on the `&ExitStack` it receives: sync forms only.
                    if let Some(entry) = self.build(child, false) {
                        stack.push(entry);
                    }
                }
                match panic {
                    true => Err(panic_of(id)),
                    false => Ok(Step::Done),
                }
            }
            Spec::PushStack { .. } | Spec::CloseNested { .. } => unreachable!("built on push"),
        }
    }

    /// Rules 2, 3 and 12: every entry once, newest first; a panic stops nothing.
    fn run_all(&mut self, unwind: &mut Unwind, stack: &mut Vec<Entry>) {
        while !stack.is_empty() {
            self.run_one(unwind, stack);
        }
    }

    /// Runs the top entry.
    fn run_one(&mut self, unwind: &mut Unwind, stack: &mut Vec<Entry>) {
        if let Some(entry) = stack.pop() {
            let label = label(entry.id());
            match self.run_entry(unwind, entry, stack) {
                Ok(step) => unwind.record(step, &label),
                Err(message) => {
                    if unwind.panic.is_none() && !unwind.thread_panicking {
                        unwind.panic = Some(message);
                    } else {
                        let error = Error {
                            label: Some(label),
                            message: format!("panicked: {message}"),
                        };
                        self.report(ReportReason::PanicDuringPanic, &error);
                    }
                }
            }
        }
    }

    /// Rules 8, 12, 13: the first panic wins and pending errors are reported, else all errors.
    fn finish(&mut self, unwind: Unwind) -> Finished {
        if let Some(message) = unwind.panic {
            if let Some(error) = &unwind.scope_error {
                let lost = Error {
                    label: Some("scope body".to_owned()),
                    message: error.clone(),
                };
                self.report(ReportReason::LostToPanic, &lost);
            }
            for error in &unwind.errors {
                self.report(ReportReason::LostToPanic, error);
            }
            return Finished::Panic(message);
        }
        match unwind.errors.is_empty() {
            true => Finished::Ok,
            false => Finished::Errors(unwind.errors),
        }
    }

    fn close(&mut self, stack: Vec<Entry>) -> Out {
        let mut unwind = Unwind::new(Ending::Closed, false);
        let mut stack = stack;
        self.run_all(&mut unwind, &mut stack);
        self.finish(unwind).out()
    }

    /// Rule 14: a dropped stack still runs everything; its errors are reported.
    fn drop_stack(&mut self, stack: Vec<Entry>, thread_panicking: bool) -> Option<String> {
        let ending = match thread_panicking {
            true => Ending::Panicked,
            false => Ending::Abandoned,
        };
        let mut unwind = Unwind::new(ending, thread_panicking);
        unwind.dropping_async = self.async_stack;
        self.finish_drop(unwind, stack)
    }

    fn finish_drop(&mut self, mut unwind: Unwind, mut stack: Vec<Entry>) -> Option<String> {
        self.run_all(&mut unwind, &mut stack);
        match self.finish(unwind) {
            Finished::Ok => None,
            Finished::Errors(errors) => {
                for error in &errors {
                    self.report(ReportReason::Dropped, error);
                }
                None
            }
            Finished::Panic(message) => Some(message),
        }
    }

    /// Push, cancel and run-now; the operations a scope body can do too.
    fn handle_op(&mut self, op: &Op, stack: &mut Vec<Entry>, held: &mut Vec<Id>) {
        match op {
            Op::Push { spec, hold } => {
                if let Some(entry) = self.build(spec, self.async_stack) {
                    if *hold && spec.holdable() {
                        held.push(entry.id());
                    }
                    stack.push(entry);
                }
            }
            Op::Cancel(index) | Op::RunNow(index) if !held.is_empty() => {
                let id = held.remove(index % held.len());
                let at = stack.iter().position(|entry| entry.id() == id);
                let entry = stack.remove(at.expect("a held entry is still registered"));
                if let Op::RunNow(_) = op {
                    // Runs as if the stack were closed; a panic goes straight to the caller.
                    let mut unwind = Unwind::new(Ending::Closed, false);
                    let out = match self.run_entry(&unwind, entry, stack) {
                        Err(message) => Out::Panic(message),
                        Ok(step) => {
                            unwind.record(step, &label(id));
                            self.finish(unwind).out()
                        }
                    };
                    self.log.push(Event::RunNow(id, out));
                }
            }
            Op::Cancel(_) | Op::RunNow(_) => {}
            Op::Close | Op::PopAll => unreachable!("handled by the stack program"),
        }
    }

    fn stack_program(&mut self, ops: &[Op], finish: Finish) {
        let mut stack = Vec::new();
        let mut held = Vec::new();
        let mut moved = Vec::new();
        for op in ops {
            match op {
                Op::Close => {
                    held.clear();
                    let out = self.close(std::mem::take(&mut stack));
                    self.log.push(Event::Closed(out));
                }
                // Rule 5: everything moves; the original is empty and usable.
                Op::PopAll => {
                    held.clear();
                    moved.push(std::mem::take(&mut stack));
                }
                op => self.handle_op(op, &mut stack, &mut held),
            }
        }
        match finish {
            Finish::Close => {
                let out = self.close(stack);
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
        }
        for stack in moved {
            let out = self.close(stack);
            self.log.push(Event::Moved(out));
        }
    }

    /// Rule 16: `aclose` polled once runs up to the first async entry and starts it; a new
    /// `aclose` resumes from there, a drop reports the entry in flight and carries on as a
    /// drop (abandoned) with the errors already pending.
    fn cut_off(&mut self, mut stack: Vec<Entry>, finish: Finish) {
        let mut unwind = Unwind::new(Ending::Closed, false);
        let in_flight = loop {
            match stack.pop() {
                None => break None,
                Some(entry @ Entry::Leaf(_, true)) => break Some(entry),
                Some(entry) => {
                    stack.push(entry);
                    self.run_one(&mut unwind, &mut stack);
                }
            }
        };
        let Some(entry) = in_flight else {
            let out = self.finish(unwind).out();
            self.log.push(Event::Closed(out));
            let again = match finish {
                Finish::CancelThenClose => Event::Closed(Out::Ok),
                _ => Event::Dropped(None),
            };
            self.log.push(again);
            return;
        };
        if finish == Finish::CancelThenClose {
            stack.push(entry);
            self.run_all(&mut unwind, &mut stack);
            let out = self.finish(unwind).out();
            self.log.push(Event::Closed(out));
            return;
        }
        let id = entry.id();
        if let Entry::Leaf(Spec::Exit { .. } | Spec::Context { .. }, _) = entry {
            // Its `exit` was called when it started (the future is what was cut off).
            self.log.push(Event::Seen {
                id,
                error: current_error(&unwind),
                panicking: unwind.panic.is_some(),
                ending: Ending::Closed,
            });
        }
        let error = Error {
            label: Some(label(id)),
            message: exitstack::NotRunError.to_string(),
        };
        self.report(ReportReason::AsyncNotRun, &error);
        unwind.ending = Ending::Abandoned;
        unwind.dropping_async = true;
        let panic = self.finish_drop(unwind, stack);
        self.log.push(Event::Dropped(panic));
    }

    /// Rule 11: the scope's result says completed, suppressed or failed (with everything).
    fn scope_program(&mut self, ops: &[Op], body: Body) {
        let mut stack = Vec::new();
        let mut held = Vec::new();
        for op in ops {
            self.handle_op(op, &mut stack, &mut held);
        }
        let mut unwind = match body {
            Body::Ok => Unwind::new(Ending::Closed, false),
            Body::Err => Unwind::new(Ending::Failed, false),
            Body::Panic => Unwind::new(Ending::Panicked, false),
        };
        match body {
            Body::Err => unwind.scope_error = Some("body".to_owned()),
            Body::Panic => unwind.panic = Some("body-panic".to_owned()),
            Body::Ok => {}
        }
        self.run_all(&mut unwind, &mut stack);
        let suppressed = unwind.scope_suppressed;
        let cleanup = match self.finish(unwind).out() {
            Out::Panic(message) => {
                self.log.push(Event::Scope(ScopeOut::Panic(message)));
                return;
            }
            Out::Ok => Vec::new(),
            Out::Errors(errors) => errors,
        };
        let failed = body == Body::Err;
        let out = match (body, suppressed, cleanup.is_empty()) {
            (Body::Ok, _, true) => ScopeOut::Completed,
            (Body::Err, true, true) => ScopeOut::Suppressed,
            _ => ScopeOut::Failed {
                body: failed && !suppressed,
                suppressed: failed && suppressed,
                cleanup,
            },
        };
        self.log.push(Event::Scope(out));
    }
}
