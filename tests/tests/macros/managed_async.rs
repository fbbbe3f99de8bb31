//! Async `#[managed]`: `aclose = path` fields awaited by the generated `aclose`, mixed with sync
//! fields, in teardown order; panics, errors whose `Display` panics, the `aclose` future dropped
//! at every await point, the value dropped without `aclose`, and the value entered in an
//! `AsyncExitStack`. The `concurrent` waves are `managed_waves`'s (which shares `Conn`).
//!
//! These run on the tests' minimal executor, so they run under Miri too (but the `Send` test).

use std::fmt;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use exitstack::report::{self, ReportReason};
use exitstack::{managed, AsyncExitStack, SendAsyncExitStack};
use exitstack_tests::executor::{block_on, caught, poll_once, yield_once};
use exitstack_tests::{capture_reports, Log};

use super::managed_waves::{service, Service};

/// How a closer waits before it finishes.
#[derive(Clone, Copy)]
pub(super) enum Wait {
    /// `tokio::time::sleep` for this many milliseconds (with the paused clock in the tests).
    Sleep(u64),
    /// Pending this many times (the minimal executor, Miri).
    Yields(usize),
}

/// How a closer ends.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum End {
    Ok,
    Fail,
    Panic,
    /// Returns an error whose `Display` panics.
    HostileError,
}

/// A resource with an async (and a sync) closer that logs when it starts and finishes, and is
/// counted when its value is dropped.
pub(super) struct Conn {
    name: &'static str,
    log: Log,
    wait: Wait,
    end: End,
    clock: Option<tokio::time::Instant>,
}

impl Conn {
    pub(super) fn new(name: &'static str, log: &Log, wait: Wait) -> Self {
        Conn {
            name,
            log: log.clone(),
            wait,
            end: End::Ok,
            clock: None,
        }
    }

    pub(super) fn ending(mut self, end: End) -> Self {
        self.end = end;
        self
    }

    pub(super) fn timed(mut self, since: tokio::time::Instant) -> Self {
        self.clock = Some(since);
        self
    }

    fn event(&self, what: &str) {
        match self.clock {
            Some(since) => {
                let at = since.elapsed().as_millis();
                self.log.push(format!("{what} {} @{at}", self.name));
            }
            None => self.log.push(format!("{what} {}", self.name)),
        }
    }

    pub(super) async fn shutdown(self) -> Result<(), Failure> {
        self.event("start");
        match self.wait {
            Wait::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            Wait::Yields(n) => {
                for _ in 0..n {
                    yield_once().await;
                }
            }
        }
        self.event("finish");
        match self.end {
            End::Ok => Ok(()),
            End::Fail => Err(Failure::Plain(format!("{} refused", self.name))),
            End::Panic => panic!("{} panicked", self.name),
            End::HostileError => Err(Failure::Hostile),
        }
    }

    pub(super) fn close(self) -> Result<(), Failure> {
        self.event("close");
        match self.end {
            End::Ok => Ok(()),
            End::Fail => Err(Failure::Plain(format!("{} refused", self.name))),
            End::Panic => panic!("{} panicked", self.name),
            End::HostileError => Err(Failure::Hostile),
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.log.push(format!("dropped {}", self.name));
    }
}

#[derive(Debug)]
pub(super) enum Failure {
    Plain(String),
    /// Its `Display` panics.
    Hostile,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Plain(text) => f.write_str(text),
            Failure::Hostile => panic!("Display of a hostile error"),
        }
    }
}

impl std::error::Error for Failure {}

/// Sequential (no `concurrent`): sync and async fields, one after the other, in teardown order.
#[managed]
struct Mixed {
    #[managed(aclose = Conn::shutdown, label = "database")]
    db: Conn,
    #[managed(close = Conn::close)]
    file: Conn,
    plain: Conn,
    #[managed(aclose = Conn::shutdown, after = db)]
    cache: Conn,
}

fn mixed(log: &Log, db: End, file: End, cache: End) -> Mixed {
    Mixed::new(
        Conn::new("db", log, Wait::Yields(2)).ending(db),
        Conn::new("file", log, Wait::Yields(0)).ending(file),
        Conn::new("plain", log, Wait::Yields(0)),
        Conn::new("cache", log, Wait::Yields(1)).ending(cache),
    )
}

#[test]
fn sequential_aclose_mixes_sync_and_async_fields_in_teardown_order() {
    let log = Log::new();
    let errors = block_on(mixed(&log, End::Fail, End::Fail, End::Ok).aclose()).unwrap_err();
    assert_eq!(
        log.entries(),
        [
            // Reverse declaration, `cache` after `db`: plain, file, db, cache.
            "dropped plain",
            "close file",
            "dropped file",
            "start db",
            "finish db",
            "dropped db",
            "start cache",
            "finish cache",
            "dropped cache",
        ]
    );
    let labels: Vec<_> = errors
        .iter()
        .map(|e| e.label().unwrap().to_owned())
        .collect();
    assert_eq!(labels, ["file", "database"]);
    assert_eq!(
        exitstack_tests::messages(&errors),
        ["file refused", "db refused"]
    );
}

#[test]
fn aclose_panicking_closer_stops_no_other_and_its_panic_is_resumed_at_the_end() {
    let log = Log::new();
    let ((), reports) = capture_reports(|| {
        let value = mixed(&log, End::Panic, End::Fail, End::Panic);
        let payload = block_on(caught(value.aclose())).unwrap_err();
        // The first panic (db's) is resumed; cache's is dropped; the pending error reported.
        assert_eq!(payload.downcast_ref::<String>().unwrap(), "db panicked");
    });
    let events = log.entries();
    assert!(events.contains(&"finish cache".to_owned()), "{events:?}");
    assert_eq!(
        events.iter().filter(|e| e.starts_with("dropped")).count(),
        4,
        "{events:?}"
    );
    // As in a stack: the second panic is reported when caught, the error when the first resumes.
    let seen: Vec<_> = reports
        .iter()
        .map(|r| (r.reason, r.label.clone().unwrap(), r.is_panic))
        .collect();
    assert_eq!(
        seen,
        [
            (ReportReason::PanicDuringPanic, "cache".to_owned(), true),
            (ReportReason::LostToPanic, "file".to_owned(), false),
        ]
    );
}

#[test]
fn aclose_keeps_an_error_whose_display_panics_with_its_label() {
    let log = Log::new();
    let errors = block_on(mixed(&log, End::HostileError, End::Ok, End::Ok).aclose()).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("database"));
    assert!(matches!(
        errors.first().error().downcast_ref::<Failure>(),
        Some(Failure::Hostile)
    ));
    assert!(log.entries().contains(&"finish cache".to_owned()));
    // Reported (lost to a panic), it is reported without its text, and nothing aborts.
    let reasons = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reasons);
    report::with_reporter(
        move |r: &report::Report<'_>| {
            let label = r.error().label().map(str::to_owned);
            sink.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((r.reason(), label));
        },
        || {
            let value = mixed(&log, End::HostileError, End::Ok, End::Panic);
            let payload = block_on(caught(value.aclose())).unwrap_err();
            assert_eq!(payload.downcast_ref::<String>().unwrap(), "cache panicked");
        },
    );
    assert_eq!(
        *reasons.lock().unwrap(),
        [(ReportReason::LostToPanic, Some("database".to_owned()))]
    );
}

/// Counts, per field, how it was torn down: closed by `aclose` (a sync close, or an async one
/// that finished), reported as not run, and its value dropped.
fn tally(
    events: &[String],
    reports: &[exitstack_tests::Captured],
    name: &str,
    label: &str,
) -> (usize, usize, usize) {
    let closed = events
        .iter()
        .filter(|e| **e == format!("finish {name}") || **e == format!("close {name}"))
        .count();
    let not_run = reports
        .iter()
        .filter(|r| r.reason == ReportReason::AsyncNotRun && r.label.as_deref() == Some(label))
        .count();
    let dropped = events
        .iter()
        .filter(|e| **e == format!("dropped {name}"))
        .count();
    (closed, not_run, dropped)
}

/// Drops the `aclose` future after `polls` polls (then the value with it); returns whether it
/// had finished by then.
fn cut_after<F: std::future::Future>(future: F, polls: usize) -> bool {
    let mut future = pin!(future);
    (0..polls).any(|_| poll_once(future.as_mut()).is_ready())
}

#[test]
fn aclose_future_dropped_at_every_await_point_tears_down_or_reports_each_field_once() {
    let mut finished = [false, false];
    for polls in 0.. {
        for (which, done) in finished.iter_mut().enumerate() {
            let log = Log::new();
            let (completed, reports) = capture_reports(|| match which {
                0 => cut_after(mixed(&log, End::Ok, End::Ok, End::Ok).aclose(), polls),
                _ => cut_after(
                    service(&log, Wait::Yields(2), End::Ok, None).aclose(),
                    polls,
                ),
            });
            let events = log.entries();
            let fields: &[(&str, &str, bool)] = match which {
                0 => &[
                    ("db", "database", true),
                    ("file", "file", false),
                    ("plain", "plain", false),
                    ("cache", "cache", true),
                ],
                _ => &[
                    ("db", "db", true),
                    ("cache", "cache", true),
                    ("metrics", "metrics", true),
                    ("log", "log", true),
                ],
            };
            for &(name, label, is_async) in fields {
                let (closed, not_run, dropped) = tally(&events, &reports, name, label);
                assert_eq!(dropped, 1, "{name} after {polls} polls: {events:?}");
                if is_async {
                    assert_eq!(
                        closed + not_run,
                        1,
                        "{name} after {polls} polls: {events:?} {reports:?}"
                    );
                } else if name == "file" {
                    assert_eq!((closed, not_run), (1, 0), "{name}: {events:?}");
                }
                if completed {
                    assert_eq!((closed, not_run), (usize::from(name != "plain"), 0));
                }
            }
            assert!(
                reports
                    .iter()
                    .all(|r| r.reason == ReportReason::AsyncNotRun),
                "{reports:?}"
            );
            *done |= completed;
        }
        if finished.iter().all(|done| *done) {
            assert!(polls > 3, "every await point was cut");
            break;
        }
    }
}

#[test]
fn dropped_without_aclose_sync_fields_are_torn_down_and_async_ones_reported_aclose() {
    let log = Log::new();
    let ((), reports) = capture_reports(|| drop(mixed(&log, End::Ok, End::Fail, End::Ok)));
    assert_eq!(
        log.entries(),
        [
            "dropped plain",
            "close file",
            "dropped file",
            "dropped db",
            "dropped cache"
        ]
    );
    let seen: Vec<_> = reports
        .iter()
        .map(|r| (r.reason, r.label.clone().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            (ReportReason::AsyncNotRun, "database".to_owned()),
            (ReportReason::AsyncNotRun, "cache".to_owned()),
            (ReportReason::DropOutsideStack, "file".to_owned()),
        ]
    );
}

#[test]
fn entered_in_an_async_stack_its_aclose_is_awaited_in_the_stack_order() {
    let log = Log::new();
    let mut stack = AsyncExitStack::new();
    let before = log.clone();
    stack.callback(move || before.push("registered before"));
    let value = stack.async_guard(mixed(&log, End::Ok, End::Fail, End::Ok), Mixed::aclose);
    assert_eq!(value.db.name, "db"); // the fields deref to the values
    let after = log.clone();
    stack.push_async_callback(move || async move { after.push("registered after") });
    let errors = block_on(stack.aclose()).unwrap_err();
    let events = log.entries();
    assert_eq!(events.first().map(String::as_str), Some("registered after"));
    assert_eq!(events.last().map(String::as_str), Some("registered before"));
    assert_eq!(events.len(), 11, "{events:?}");
    // The struct's errors are leaves of the stack's, with the field's label.
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("file"));
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(miri, ignore = "tokio's multi-threaded runtime")]
async fn the_aclose_future_is_send_and_works_on_a_send_stack_in_a_spawned_task() {
    let log = Log::new();
    let task_log = log.clone();
    tokio::spawn(async move {
        let mut stack = SendAsyncExitStack::new_send();
        let value = service(&task_log, Wait::Sleep(1), End::Ok, None);
        stack.async_guard(value, Service::aclose).label("service");
        tokio::task::yield_now().await;
        stack.aclose().await
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        log.entries()
            .iter()
            .filter(|e| e.starts_with("finish"))
            .count(),
        4
    );
}

/// A nested async struct closed by its own `aclose`, as one field of another.
#[managed]
struct Outer {
    #[managed(aclose = Mixed::aclose, label = "inner")]
    inner: Mixed,
    #[managed(close = Conn::close)]
    last: Conn,
}

#[test]
fn a_nested_async_struct_is_closed_through_its_aclose_and_its_errors_flatten() {
    let log = Log::new();
    let value = Outer::new(
        mixed(&log, End::Fail, End::Ok, End::Fail),
        Conn::new("last", &log, Wait::Yields(0)),
    );
    let errors = block_on(value.aclose()).unwrap_err();
    let labels: Vec<_> = errors
        .iter()
        .map(|e| e.label().unwrap().to_owned())
        .collect();
    assert_eq!(labels, ["database", "cache"]);
    let events = log.entries();
    assert_eq!(events.first().map(String::as_str), Some("close last"));
}

#[test]
fn a_closer_panicking_when_called_is_that_fields_panic() {
    fn refuses(_: Conn) -> std::future::Ready<()> {
        panic!("refused before returning a future")
    }
    #[managed]
    struct Eager {
        #[managed(aclose = refuses)]
        first: Conn,
        #[managed(aclose = Conn::shutdown)]
        second: Conn,
    }
    let log = Log::new();
    let value = Eager::new(
        Conn::new("first", &log, Wait::Yields(0)),
        Conn::new("second", &log, Wait::Yields(1)),
    );
    let payload = block_on(caught(value.aclose())).unwrap_err();
    assert_eq!(
        *payload.downcast_ref::<&str>().unwrap(),
        "refused before returning a future"
    );
    assert_eq!(
        log.entries(),
        [
            "start second",
            "finish second",
            "dropped second",
            "dropped first"
        ]
    );
}
