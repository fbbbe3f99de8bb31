//! Model-based property test of `#[managed]`: one struct with closers, a dropped field, an
//! `after` constraint, a `rank` and a skipped field; random behaviours for every field (close
//! succeeds, fails or panics; the dropped field reports an error and/or panics) and a random
//! way to end (close, drop, drop during a panic, released by a stack with `enter_closing` or
//! `enter`, or built by `acquire` with acquisition `k` failing or panicking). The real log must
//! equal the one a small reference model predicts from the documented rules: teardown order,
//! each field exactly once, every error in order with its label, the first panic resumed (or,
//! during a panic, reported), errors of a drop on the report channel.
//!
//! `PROPTEST_CASES` sets the number of cases (default 10,000; 8 under Miri).

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::support::{
    cases, drop_errors_quietly, quiet_panics, settle, shown_error, shown_failure, Beh,
};
use crate::support::{BadDisplay, BadDrop, BadPayload};
use exitstack::report::{self, ReportReason};
use exitstack::{managed, BoxError, CleanupError, ExitStack, UnwindError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// The fields, in declaration order; the skipped one is last.
const LABELS: [&str; 6] = ["config", "pool", "cache", "conn", "metrics", "name"];
/// Teardown order, from the documented rules: reverse declaration order (metrics, conn,
/// cache, pool, config), refined by `rank = -1` (metrics first) and `after = pool` (conn after
/// pool; the struct's order breaks the tie with config). `name` is skipped: dropped after.
const TEARDOWN: [usize; 5] = [4, 2, 1, 3, 0];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Released(&'static str),
    Report(ReportReason, String),
    /// `Ok(errors)` (empty when none) or the panic that came out.
    Result(Result<Vec<String>, String>),
}

thread_local! {
    static LOG: RefCell<Vec<Event>> = const { RefCell::new(Vec::new()) };
}

fn log(event: Event) {
    LOG.with(|log| log.borrow_mut().push(event));
}

/// A field released by a closer. Hostile values carry the field's index as their id.
struct Part(&'static str, Beh);

/// The index of a field's label (the id of its hostile values).
fn index(label: &str) -> u32 {
    LABELS.iter().position(|l| *l == label).expect("a field") as u32
}

impl Part {
    fn close(self) -> Result<(), BoxError> {
        log(Event::Released(self.0));
        let id = index(self.0);
        match self.1 {
            Beh::Ok => Ok(()),
            Beh::Fail => Err(format!("{} failed", self.0).into()),
            Beh::Panic => panic!("{} panicked", self.0),
            Beh::PanicBadPayload => std::panic::panic_any(BadPayload(id)),
            Beh::FailBadDisplay => Err(Box::new(BadDisplay(id))),
            Beh::FailBadDrop => Err(Box::new(BadDrop(id))),
        }
    }
}

/// A field released by dropping it; may hand an error to `report::error_in_drop`, may panic.
struct Dropped(&'static str, bool, bool);

impl Drop for Dropped {
    fn drop(&mut self) {
        log(Event::Released(self.0));
        if self.1 {
            report::error_in_drop(CleanupError::new(format!("{} failed", self.0)));
        }
        assert!(!self.2, "{} panicked", self.0);
    }
}

#[managed]
struct Service {
    #[managed(close = Part::close, label = "config")]
    config: Part,
    #[managed(close = Part::close)]
    pool: Part,
    cache: Dropped,
    #[managed(close = Part::close, after = pool)]
    conn: Part,
    #[managed(close = Part::close, rank = -1)]
    metrics: Part,
    #[managed(skip)]
    #[allow(dead_code)] // only released
    name: Dropped,
}

/// How a case ends.
#[derive(Clone, Copy, Debug)]
enum End {
    Close,
    Drop,
    DropDuringPanic,
    EnterClosing,
    Enter,
    /// `acquire`, with acquisition `k` (declaration order) failing or panicking; `k == 6`: all
    /// succeed and the value is closed.
    Acquire(usize, bool),
}

#[derive(Clone, Copy, Debug)]
struct Case {
    closers: [Beh; 4], // config, pool, conn, metrics
    cache: (bool, bool),
    end: End,
}

/// Whether a case dropped outside any stack (`End::Drop`) may have a closer failing with an
/// error whose `Drop` panics (it once cut off the reports after it, and a second one aborted).
const BAD_DROP_ERRORS_ON_DROP: bool = true;

fn case() -> impl Strategy<Value = Case> {
    let beh = prop_oneof![
        30 => Just(Beh::Ok),
        20 => Just(Beh::Fail),
        10 => Just(Beh::Panic),
        if crate::support::HOSTILE_PAYLOADS { 1 } else { 0 } => Just(Beh::PanicBadPayload),
        if crate::support::HOSTILE_DISPLAY { 1 } else { 0 } => Just(Beh::FailBadDisplay),
        if crate::support::HOSTILE_ERROR_DROP { 1 } else { 0 } => Just(Beh::FailBadDrop),
    ];
    let end = prop_oneof![
        Just(End::Close),
        Just(End::Drop),
        Just(End::DropDuringPanic),
        Just(End::EnterClosing),
        Just(End::Enter),
        (0..=6usize, any::<bool>()).prop_map(|(k, panics)| End::Acquire(k, panics)),
    ];
    let cache = (prop::bool::weighted(0.3), prop::bool::weighted(0.15));
    (prop::array::uniform4(beh), cache, end)
        .prop_map(|(closers, cache, end)| Case {
            closers,
            cache,
            end,
        })
        .prop_filter("bad-drop errors of a drop outside a stack", |case| {
            BAD_DROP_ERRORS_ON_DROP
                || !matches!(case.end, End::Drop)
                || !case.closers.contains(&Beh::FailBadDrop)
        })
}

fn part(case: &Case, field: usize) -> Part {
    let closer = match field {
        0 => 0,
        1 => 1,
        3 => 2,
        4 => 3,
        _ => unreachable!("not a closed field"),
    };
    Part(LABELS[field], case.closers[closer])
}

/// The errors, displayed safely, then dropped inside `catch_unwind`.
fn errors(result: Result<(), UnwindError>) -> Vec<String> {
    let Err(errors) = result else {
        return Vec::new();
    };
    let shown = errors.iter().map(shown_error).collect();
    drop_errors_quietly(errors);
    shown
}

fn caught(body: impl FnOnce() -> Vec<String>) -> Result<Vec<String>, String> {
    catch_unwind(AssertUnwindSafe(body)).map_err(settle)
}

/// Runs the case on the real `#[managed]` struct.
fn real(case: &Case) -> Vec<Event> {
    LOG.with(|log| log.borrow_mut().clear());
    let build = || Service {
        config: part(case, 0).into(),
        pool: part(case, 1).into(),
        cache: Dropped("cache", case.cache.0, case.cache.1).into(),
        conn: part(case, 3).into(),
        metrics: part(case, 4).into(),
        name: Dropped("name", false, false),
    };
    report::with_reporter(
        |r| log(Event::Report(r.reason(), shown_error(r.error()))),
        || {
            let result = match case.end {
                End::Close => caught(|| errors(build().close())),
                End::Drop => caught(|| {
                    drop(build());
                    Vec::new()
                }),
                End::DropDuringPanic => caught(|| {
                    let _service = build();
                    panic!("outer")
                }),
                End::EnterClosing | End::Enter => caught(|| {
                    let mut stack = ExitStack::new();
                    match case.end {
                        End::Enter => drop(stack.enter(build())),
                        _ => drop(stack.enter_closing(build())),
                    }
                    errors(stack.close())
                }),
                End::Acquire(k, panics) => caught(|| {
                    let step = |i: usize| -> Result<(), String> {
                        match (i == k, panics) {
                            (false, _) => Ok(()),
                            (true, false) => Err(format!("acquisition {i} failed")),
                            (true, true) => panic!("acquisition {i} panicked"),
                        }
                    };
                    let built = Service::acquire(
                        || step(0).map(|()| part(case, 0)),
                        |_| step(1).map(|()| part(case, 1)),
                        |_, _| step(2).map(|()| Dropped("cache", case.cache.0, case.cache.1)),
                        |_, _, _| step(3).map(|()| part(case, 3)),
                        |_, _, _, _| step(4).map(|()| part(case, 4)),
                        |_, _, _, _, _| step(5).map(|()| Dropped("name", false, false)),
                    );
                    match built {
                        Ok(service) => errors(service.close()),
                        Err(rollback) => {
                            let (error, teardown) = rollback.into_parts();
                            let teardown = errors(teardown.map_or(Ok(()), Err));
                            std::iter::once(error).chain(teardown).collect()
                        }
                    }
                }),
            };
            log(Event::Result(result));
        },
    );
    LOG.with(|log| log.take())
}

/// A teardown error in the model: label, message, and how hostile it is.
struct Failure {
    label: &'static str,
    message: String,
    display_panics: bool,
    drop_panics: Option<u32>,
}

impl Failure {
    fn shown(&self) -> String {
        match self.display_panics {
            true => shown_failure(Some(self.label)),
            false => format!("cleanup `{}` failed: {}", self.label, self.message),
        }
    }
}

/// A panic in the model: its message as the harness reads it, and whether its payload is a
/// `BadPayload` (whose `Drop` panics with `payload-drop-{id}`).
struct Panicked {
    message: String,
    bad_payload: Option<u32>,
}

/// The reference model: releases `present` fields in teardown order under the unwind rules.
struct Model {
    log: Vec<Event>,
}

impl Model {
    fn report(&mut self, reason: ReportReason, label: Option<&str>, message: &str) {
        let text = match label {
            Some(label) => format!("cleanup `{label}` failed: {message}"),
            None => format!("cleanup failed: {message}"),
        };
        self.log.push(Event::Report(reason, text));
    }

    /// A panic that cannot be resumed: reported, then its payload dropped (a `BadPayload`'s
    /// drop panics: reported too).
    fn report_panic(&mut self, label: Option<&str>, panic: &Panicked) {
        let message = match panic.bad_payload {
            Some(_) => "panicked: panic with a non-string payload".to_owned(),
            None => format!("panicked: {}", panic.message),
        };
        self.report(ReportReason::PanicDuringPanic, label, &message);
        if let Some(id) = panic.bad_payload {
            let message = format!("dropping a panic payload panicked: payload-drop-{id}");
            self.report(ReportReason::PayloadDropPanicked, label, &message);
        }
    }

    /// An error-drop panic that cannot be resumed (reported unlabelled).
    fn report_error_drop(&mut self, id: u32) {
        let panic = Panicked {
            message: format!("error-drop-{id}"),
            bad_payload: None,
        };
        self.report_panic(None, &panic);
    }

    /// Returns the errors (labelled) or the panic to resume.
    /// `held`: a panic already in flight (a panicking acquisition), resumed at the end.
    fn teardown(
        &mut self,
        case: &Case,
        present: usize,
        panicking: bool,
        held: Option<String>,
    ) -> Result<Vec<Failure>, String> {
        let mut errors: Vec<Failure> = Vec::new();
        let mut panic = held.map(|message| Panicked {
            message,
            bad_payload: None,
        });
        for field in TEARDOWN.into_iter().filter(|&field| field < present) {
            let label = LABELS[field];
            self.log.push(Event::Released(label));
            let id = index(label);
            let failure = |display_panics, drop_panics: bool| Failure {
                label,
                message: match display_panics || drop_panics {
                    true => format!("err-{id}"),
                    false => format!("{label} failed"),
                },
                display_panics,
                drop_panics: drop_panics.then_some(id),
            };
            let plain_panic = Panicked {
                message: format!("{label} panicked"),
                bad_payload: None,
            };
            let (failed, panicked) = match field {
                2 => {
                    let (fails, panics) = case.cache;
                    if fails && panics {
                        // A dropped field's collected error is lost to its own panic: reported.
                        let message = format!("{label} failed");
                        self.report(ReportReason::LostToPanic, None, &message);
                    }
                    let failed = (fails && !panics).then(|| failure(false, false));
                    (failed, panics.then_some(plain_panic))
                }
                _ => match part(case, field).1 {
                    Beh::Ok => (None, None),
                    Beh::Fail => (Some(failure(false, false)), None),
                    Beh::Panic => (None, Some(plain_panic)),
                    Beh::PanicBadPayload => (
                        None,
                        Some(Panicked {
                            message: format!("bad-payload-{id}"),
                            bad_payload: Some(id),
                        }),
                    ),
                    Beh::FailBadDisplay => (Some(failure(true, false)), None),
                    Beh::FailBadDrop => (Some(failure(false, true)), None),
                },
            };
            errors.extend(failed);
            if let Some(panicked) = panicked {
                if panic.is_none() && !panicking {
                    panic = Some(panicked);
                } else {
                    self.report_panic(Some(label), &panicked);
                }
            }
        }
        if let Some(panic) = panic {
            // Reported, then dropped: the first error-drop panic is reported last.
            for error in &errors {
                let text = error.shown();
                self.log
                    .push(Event::Report(ReportReason::LostToPanic, text));
            }
            let mut bad = errors.iter().filter_map(|error| error.drop_panics);
            let first = bad.next();
            for id in bad.chain(first) {
                self.report_error_drop(id);
            }
            return Err(panic.message);
        }
        Ok(errors)
    }

    fn predict(case: &Case) -> Vec<Event> {
        let mut model = Model { log: Vec::new() };
        let skipped = |model: &mut Model| model.log.push(Event::Released("name"));
        let shown = |errors: Vec<Failure>| errors.iter().map(Failure::shown).collect();
        let result = match case.end {
            End::Close | End::EnterClosing | End::Acquire(6, _) => {
                let result = model.teardown(case, 5, false, None);
                skipped(&mut model);
                result.map(shown)
            }
            End::Drop | End::DropDuringPanic | End::Enter => {
                let panicking = matches!(case.end, End::DropDuringPanic);
                let result = model.teardown(case, 5, panicking, None);
                let mut resumed = None;
                if let (Ok(errors), End::Drop | End::DropDuringPanic) = (&result, case.end) {
                    // `teardown_in_drop` hands them to `error_in_drop`: outside a stack, all are
                    // reported, then dropped; the first error-drop panic goes on, unless the
                    // thread is panicking, and the others are reported.
                    for error in errors {
                        let text = error.shown();
                        model
                            .log
                            .push(Event::Report(ReportReason::DropOutsideStack, text));
                    }
                    let mut bad = errors.iter().filter_map(|error| error.drop_panics);
                    if !panicking {
                        resumed = bad.next().map(|id| format!("error-drop-{id}"));
                    }
                    for id in bad {
                        model.report_error_drop(id);
                    }
                }
                skipped(&mut model);
                match (result, case.end) {
                    (_, End::DropDuringPanic) => Err("outer".to_owned()),
                    (Ok(_), End::Drop) => resumed.map_or(Ok(Vec::new()), Err),
                    (result, _) => result.map(shown),
                }
            }
            End::Acquire(k, panics) => {
                let verb = if panics { "panicked" } else { "failed" };
                let message = format!("acquisition {k} {verb}");
                // Rolled back in teardown order either way; a panic then goes on.
                match model.teardown(case, k, false, panics.then(|| message.clone())) {
                    Err(panic) => Err(panic),
                    Ok(errors) => Ok(std::iter::once(message).chain(shown(errors)).collect()),
                }
            }
        };
        model.log.push(Event::Result(result));
        model.log
    }
}

#[test]
fn managed_struct_agrees_with_the_model() {
    quiet_panics();
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let released = std::cell::Cell::new(0usize);
    let result = TestRunner::new(config).run(&case(), |case| {
        let actual = real(&case);
        let count = actual.iter().filter(|e| matches!(e, Event::Released(_)));
        released.set(released.get() + count.count());
        prop_assert_eq!(actual, Model::predict(&case));
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    eprintln!(
        "model_managed: {} cases, {} fields released",
        cases(),
        released.get()
    );
}
