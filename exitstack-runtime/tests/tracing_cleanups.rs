//! Every cleanup is traced (feature `tracing`): one event per cleanup that runs, with its label,
//! site, duration, outcome and ending, and a slow-cleanup warning (issue 10).
#![cfg(feature = "tracing")]

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use exitstack::{managed, report, AsyncExitStack, ExitStack, Flow};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

mod support;
use support::HostileDisplay;

/// One captured event of target `exitstack`.
#[derive(Debug, Clone)]
struct Captured {
    level: Level,
    fields: BTreeMap<&'static str, String>,
}

impl Captured {
    fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
    fn message(&self) -> &str {
        self.get("message").unwrap_or("")
    }
    fn is_cleanup(&self) -> bool {
        self.message() == "cleanup finished"
    }
    fn is_slow(&self) -> bool {
        self.message() == "slow cleanup"
    }
    fn duration_us(&self) -> u64 {
        self.get("duration_us").unwrap().parse().unwrap()
    }
}

/// The smallest subscriber that keeps the events of target `exitstack` (no spans).
#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
    panics: bool,
}

struct Fields<'f>(&'f mut BTreeMap<&'static str, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() != "exitstack" {
            return;
        }
        if self.panics {
            panic!("a hostile subscriber");
        }
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(Captured {
            level: *event.metadata().level(),
            fields,
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Runs `f` with a capturing subscriber on this thread; returns what it returned and the
/// events.
fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Captured>) {
    let subscriber = Capture::default();
    let events = Arc::clone(&subscriber.events);
    let result = tracing::subscriber::with_default(subscriber, f);
    let events = events.lock().unwrap().clone();
    (result, events)
}

fn cleanups(events: &[Captured]) -> Vec<&Captured> {
    events.iter().filter(|e| e.is_cleanup()).collect()
}

/// Checks one cleanup event: label, site, outcome, ending, error, level.
#[track_caller]
fn check(
    event: &Captured,
    label: Option<&str>,
    site: &str,
    outcome: &str,
    error: Option<&str>,
    ending: &str,
) {
    assert_eq!(event.get("label"), label, "{event:?}");
    assert_eq!(event.get("site"), Some(site), "{event:?}");
    assert_eq!(event.get("outcome"), Some(outcome), "{event:?}");
    assert_eq!(event.get("error"), error, "{event:?}");
    assert_eq!(event.get("ending"), Some(ending), "{event:?}");
    assert!(event.get("duration_us").is_some(), "{event:?}");
    let level = match outcome {
        "failed" | "panicked" | "timed_out" => Level::WARN,
        _ => Level::DEBUG,
    };
    assert_eq!(event.level, level, "{event:?}");
}

#[test]
fn every_cleanup_of_a_mixed_stack_emits_one_event_in_lifo_order() {
    let (sites, events) = capture(|| {
        let mut stack = ExitStack::new();
        let suppress = stack.push_exit(|_| Flow::Suppress).location().to_string();
        let first = stack.callback(|| {}).label("first").location().to_string();
        let inner = ExitStack::new();
        let inner_ok = inner
            .callback(|| {})
            .label("inner ok")
            .location()
            .to_string();
        let inner_failed = (inner.callback(|| Err("inner refused")))
            .label("inner failed")
            .location()
            .to_string();
        let nested = stack
            .push_stack(inner)
            .label("nested")
            .location()
            .to_string();
        let rollback = (stack.callback_on_error(|| unreachable!("the stack succeeded")))
            .label("rollback")
            .location()
            .to_string();
        let panics = stack.callback(|| panic!("boom")).location().to_string();
        let failed = stack.callback(|| Err("refused")).location().to_string();

        let closed = panic::catch_unwind(AssertUnwindSafe(|| stack.close()));
        assert!(closed.is_err(), "the cleanup's panic is resumed at the end");
        [
            failed,
            panics,
            rollback,
            inner_failed,
            inner_ok,
            nested,
            first,
            suppress,
        ]
    });
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 8, "{cleanups:#?}");
    let ok = "Succeeded";
    check(cleanups[0], None, &sites[0], "failed", Some("refused"), ok);
    check(cleanups[1], None, &sites[1], "panicked", Some("boom"), ok);
    check(
        cleanups[2],
        Some("rollback"),
        &sites[2],
        "skipped",
        None,
        ok,
    );
    check(
        cleanups[3],
        Some("inner failed"),
        &sites[3],
        "failed",
        Some("inner refused"),
        ok,
    );
    check(cleanups[4], Some("inner ok"), &sites[4], "ok", None, ok);
    // The nested stack's event comes once all its entries have run, and times them all.
    check(cleanups[5], Some("nested"), &sites[5], "nested", None, ok);
    check(cleanups[6], Some("first"), &sites[6], "ok", None, ok);
    check(cleanups[7], None, &sites[7], "suppressed", None, ok);
}

#[test]
fn an_error_only_cleanup_that_runs_is_not_skipped() {
    let (site, events) = capture(|| {
        let outcome = ExitStack::scope(|stack| {
            let site = stack.callback_on_error(|| {}).location().to_string();
            Err::<(), _>(fmt::Error).map(|()| site)
        });
        // The scope failed: the error-only cleanup ran.
        assert!(outcome.is_err());
        let stack = ExitStack::new();
        let site = stack.callback_on_error(|| {}).location().to_string();
        drop(stack); // abandoned: it runs
        site
    });
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 2, "{cleanups:#?}");
    assert_eq!(cleanups[0].get("outcome"), Some("ok"));
    assert_eq!(cleanups[0].get("ending"), Some("Failed"));
    check(cleanups[1], None, &site, "ok", None, "Abandoned");
}

#[test]
fn a_slow_cleanup_is_warned_about() {
    let threshold = exitstack::trace::slow_threshold();
    exitstack::trace::set_slow_threshold(Duration::from_millis(10));
    let (site, events) = capture(|| {
        let mut stack = ExitStack::new();
        stack.callback(|| {}).label("fast");
        let site = (stack.callback(|| std::thread::sleep(Duration::from_millis(20))))
            .label("slow")
            .location()
            .to_string();
        stack.close().unwrap();
        site
    });
    exitstack::trace::set_slow_threshold(threshold);
    let slow: Vec<_> = events.iter().filter(|e| e.is_slow()).collect();
    assert_eq!(slow.len(), 1, "{events:#?}");
    let slow = slow[0];
    assert_eq!(slow.level, Level::WARN);
    assert_eq!(slow.get("label"), Some("slow"));
    assert_eq!(slow.get("site"), Some(site.as_str()));
    assert_eq!(slow.get("outcome"), Some("ok"));
    assert_eq!(slow.get("threshold_us"), Some("10000"));
    assert!(slow.duration_us() >= 20_000, "{slow:?}");
    // And the cleanup's own event, as for any other.
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 2);
    check(cleanups[0], Some("slow"), &site, "ok", None, "Succeeded");
    assert!(cleanups[0].duration_us() >= 20_000);
}

#[test]
fn a_stack_dropped_during_a_panic_traces_the_cleanup_whose_error_is_reported() {
    let reported = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reported);
    let (site, events) = capture(|| {
        let site = Mutex::new(String::new());
        report::with_reporter(
            move |r: &report::Report<'_>| sink.lock().unwrap().push(r.reason()),
            || {
                let result = panic::catch_unwind(AssertUnwindSafe(|| {
                    let stack = ExitStack::new();
                    let handle = stack.callback(|| Err("lost")).label("during panic");
                    *site.lock().unwrap() = handle.location().to_string();
                    panic!("the body panics");
                }));
                assert!(result.is_err());
            },
        );
        site.into_inner().unwrap()
    });
    assert_eq!(*reported.lock().unwrap(), [report::ReportReason::Dropped]);
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 1, "{cleanups:#?}");
    check(
        cleanups[0],
        Some("during panic"),
        &site,
        "failed",
        Some("lost"),
        "Panicked",
    );
}

#[test]
fn a_cleanup_run_now_through_its_handle_is_traced_once() {
    let (site, events) = capture(|| {
        let mut stack = ExitStack::new();
        let handle = stack.callback(|| Err("flush failed")).label("flush");
        let site = handle.location().to_string();
        assert!(handle.release().is_err());
        stack.close().unwrap(); // its tombstone is no cleanup
        site
    });
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 1, "{cleanups:#?}");
    check(
        cleanups[0],
        Some("flush"),
        &site,
        "failed",
        Some("flush failed"),
        "Succeeded",
    );
}

#[test]
fn an_error_whose_display_panics_is_traced_with_a_placeholder() {
    let (result, events) = capture(|| {
        let mut stack = ExitStack::new();
        stack.callback(|| Err(HostileDisplay));
        stack.close()
    });
    assert_eq!(result.unwrap_err().len(), 1);
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 1);
    assert_eq!(cleanups[0].get("outcome"), Some("failed"));
    assert_eq!(
        cleanups[0].get("error"),
        Some("<the error's Display panicked>")
    );
}

#[test]
fn a_panicking_subscriber_does_not_disturb_the_unwind() {
    let subscriber = Capture {
        panics: true,
        ..Capture::default()
    };
    let runs = std::cell::Cell::new(0);
    let result = tracing::subscriber::with_default(subscriber, || {
        let mut stack = ExitStack::new();
        stack.callback(|| runs.set(runs.get() + 1));
        stack.callback(|| Err("refused"));
        stack.callback(|| runs.set(runs.get() + 1));
        stack.close()
    });
    assert_eq!(runs.get(), 2);
    assert_eq!(result.unwrap_err().len(), 1);
}

#[test]
fn an_async_cleanup_is_timed_across_its_awaits() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (sites, events) = capture(|| {
        runtime.block_on(async {
            let mut stack = AsyncExitStack::new()
                .with_time_limit(Duration::from_millis(200), tokio::time::sleep);
            let stuck = (stack.push_async_callback(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }))
            .label("stuck")
            .location()
            .to_string();
            let sync = stack.callback(|| {}).label("sync").location().to_string();
            let awaited = (stack.push_async_callback(|| async {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }))
            .label("awaited")
            .location()
            .to_string();
            let errors = stack.aclose().await.unwrap_err();
            assert_eq!(errors.len(), 1, "the stuck cleanup timed out");
            [awaited, sync, stuck]
        })
    });
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 3, "{cleanups:#?}");
    check(
        cleanups[0],
        Some("awaited"),
        &sites[0],
        "ok",
        None,
        "Succeeded",
    );
    assert!(cleanups[0].duration_us() >= 20_000, "{:?}", cleanups[0]);
    check(
        cleanups[1],
        Some("sync"),
        &sites[1],
        "ok",
        None,
        "Succeeded",
    );
    let timed_out = cleanups[2];
    assert_eq!(timed_out.get("label"), Some("stuck"));
    assert_eq!(timed_out.get("site"), Some(sites[2].as_str()));
    assert_eq!(timed_out.get("outcome"), Some("timed_out"));
    assert_eq!(timed_out.level, Level::WARN);
    assert!(
        timed_out.get("error").unwrap().contains("timed out"),
        "{timed_out:?}"
    );
    assert!(timed_out.duration_us() >= 200_000, "{timed_out:?}");
}

#[test]
fn a_failing_async_cleanup_is_traced_with_its_error() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (site, events) = capture(|| {
        runtime.block_on(async {
            let mut stack = AsyncExitStack::new();
            let site = (stack.push_async_callback(|| async {
                tokio::task::yield_now().await;
                Err("disconnect refused")
            }))
            .location()
            .to_string();
            assert!(stack.aclose().await.is_err());
            site
        })
    });
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 1, "{cleanups:#?}");
    check(
        cleanups[0],
        None,
        &site,
        "failed",
        Some("disconnect refused"),
        "Succeeded",
    );
}

struct Conn;

impl Conn {
    fn shutdown(self) -> Result<(), &'static str> {
        Err("connection reset")
    }
}

#[managed]
struct Session {
    #[managed(close = Conn::shutdown, label = "database")]
    conn: Conn,
    #[managed(label = "cache")]
    cache: Vec<u8>,
}

#[test]
fn a_managed_teardown_emits_one_event_per_field() {
    let (result, events) = capture(|| Session::new(Conn, vec![1, 2, 3]).close());
    assert_eq!(result.unwrap_err().len(), 1);
    let cleanups = cleanups(&events);
    assert_eq!(cleanups.len(), 2, "{cleanups:#?}");
    // Reverse declaration order: `cache` first.
    assert_eq!(cleanups[0].get("label"), Some("cache"));
    assert_eq!(cleanups[0].get("outcome"), Some("ok"));
    assert_eq!(cleanups[1].get("label"), Some("database"));
    assert_eq!(cleanups[1].get("outcome"), Some("failed"));
    assert_eq!(cleanups[1].get("error"), Some("connection reset"));
    for event in cleanups {
        assert!(event.get("site").unwrap().starts_with(file!()), "{event:?}");
        assert_eq!(event.get("ending"), Some("Succeeded"));
    }
}
