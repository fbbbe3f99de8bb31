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

mod model_support;

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::report::{self, ReportReason};
use exitstack::{managed, CleanupError, ExitStack, UnwindError};
use model_support::{cases, panic_message, quiet_panics, Beh};
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

/// A field released by a closer.
struct Part(&'static str, Beh);

impl Part {
    fn close(self) -> Result<(), String> {
        log(Event::Released(self.0));
        match self.1 {
            Beh::Ok => Ok(()),
            Beh::Fail => Err(format!("{} failed", self.0)),
            Beh::Panic => panic!("{} panicked", self.0),
        }
    }
}

/// A field released by dropping it; may hand an error to `report::from_drop`, may panic.
struct Dropped(&'static str, bool, bool);

impl Drop for Dropped {
    fn drop(&mut self) {
        log(Event::Released(self.0));
        if self.1 {
            report::from_drop(CleanupError::new(format!("{} failed", self.0)));
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

fn case() -> impl Strategy<Value = Case> {
    let beh = prop_oneof![3 => Just(Beh::Ok), 2 => Just(Beh::Fail), 1 => Just(Beh::Panic)];
    let end = prop_oneof![
        Just(End::Close),
        Just(End::Drop),
        Just(End::DropDuringPanic),
        Just(End::EnterClosing),
        Just(End::Enter),
        (0..=6usize, any::<bool>()).prop_map(|(k, panics)| End::Acquire(k, panics)),
    ];
    let cache = (prop::bool::weighted(0.3), prop::bool::weighted(0.15));
    (prop::array::uniform4(beh), cache, end).prop_map(|(closers, cache, end)| Case {
        closers,
        cache,
        end,
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

fn errors(result: Result<(), UnwindError>) -> Vec<String> {
    result
        .err()
        .into_iter()
        .flatten()
        .map(|e| e.to_string())
        .collect()
}

fn caught(body: impl FnOnce() -> Vec<String>) -> Result<Vec<String>, String> {
    catch_unwind(AssertUnwindSafe(body)).map_err(|payload| panic_message(&*payload))
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
        |r| log(Event::Report(r.reason(), r.error().to_string())),
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

    /// Returns the errors (labelled) or the panic to resume.
    /// `held`: a panic already in flight (a panicking acquisition), resumed at the end.
    fn teardown(
        &mut self,
        case: &Case,
        present: usize,
        panicking: bool,
        held: Option<String>,
    ) -> Result<Vec<String>, String> {
        let mut errors: Vec<(&str, String)> = Vec::new();
        let mut panic = held;
        for field in TEARDOWN.into_iter().filter(|&field| field < present) {
            let label = LABELS[field];
            self.log.push(Event::Released(label));
            let (fails, panics) = match field {
                2 => case.cache,
                _ => match part(case, field).1 {
                    Beh::Ok => (false, false),
                    Beh::Fail => (true, false),
                    Beh::Panic => (false, true),
                },
            };
            if fails && panics {
                // A dropped field's collected error is lost to its own panic: reported.
                self.report(ReportReason::LostToPanic, None, &format!("{label} failed"));
            } else if fails {
                errors.push((label, format!("{label} failed")));
            }
            if panics {
                let message = format!("{label} panicked");
                if panic.is_none() && !panicking {
                    panic = Some(message);
                } else {
                    self.report(
                        ReportReason::PanicDuringPanic,
                        Some(label),
                        &format!("panicked: {message}"),
                    );
                }
            }
        }
        if let Some(message) = panic {
            for (label, error) in &errors {
                self.report(ReportReason::LostToPanic, Some(label), error);
            }
            return Err(message);
        }
        Ok(errors
            .iter()
            .map(|(label, error)| format!("cleanup `{label}` failed: {error}"))
            .collect())
    }

    fn predict(case: &Case) -> Vec<Event> {
        let mut model = Model { log: Vec::new() };
        let skipped = |model: &mut Model| model.log.push(Event::Released("name"));
        let result = match case.end {
            End::Close | End::EnterClosing | End::Acquire(6, _) => {
                let result = model.teardown(case, 5, false, None);
                skipped(&mut model);
                result
            }
            End::Drop | End::DropDuringPanic | End::Enter => {
                let panicking = matches!(case.end, End::DropDuringPanic);
                let result = model.teardown(case, 5, panicking, None);
                if let (Ok(errors), End::Drop | End::DropDuringPanic) = (&result, case.end) {
                    // `teardown_in_drop` hands them to `from_drop`: outside a stack, reported.
                    for error in errors {
                        let text = error.clone();
                        model
                            .log
                            .push(Event::Report(ReportReason::DropOutsideStack, text));
                    }
                }
                skipped(&mut model);
                match (result, case.end) {
                    (_, End::DropDuringPanic) => Err("outer".to_owned()),
                    (Ok(_), End::Drop) => Ok(Vec::new()),
                    (result, _) => result,
                }
            }
            End::Acquire(k, panics) => {
                let verb = if panics { "panicked" } else { "failed" };
                let message = format!("acquisition {k} {verb}");
                // Rolled back in teardown order either way; a panic then goes on.
                match model.teardown(case, k, false, panics.then(|| message.clone())) {
                    Err(panic) => Err(panic),
                    Ok(errors) => Ok(std::iter::once(message).chain(errors).collect()),
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
