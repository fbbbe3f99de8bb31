//! Async `#[managed(concurrent)]`: fields closed in waves of the `after`/`rank` graph, each
//! wave a barrier, `limit` bounding how many close at once, `order = declaration` ordering a
//! wave. The closer fixture (`Conn`) is `managed_async`'s.
//!
//! The wave timings use tokio's paused clock (virtual time: exact, never flaky); the rest runs
//! on the tests' minimal executor, so it runs under Miri too.

use std::time::Duration;

use exitstack::managed;
use exitstack_tests::executor::block_on;
use exitstack_tests::Log;

use super::managed_async::{Conn, End, Wait};

/// The brief's service: `log` after `cache` and `metrics`, `cache` after `db`.
#[managed(concurrent)]
pub(super) struct Service {
    #[managed(aclose = Conn::shutdown)]
    db: Conn,
    #[managed(aclose = Conn::shutdown, after = db)]
    cache: Conn,
    #[managed(aclose = Conn::shutdown)]
    metrics: Conn,
    #[managed(aclose = Conn::shutdown, after = [cache, metrics])]
    log: Conn,
}

pub(super) fn service(
    log: &Log,
    wait: Wait,
    db: End,
    since: Option<tokio::time::Instant>,
) -> Service {
    let conn = |name| {
        let conn = Conn::new(name, log, wait);
        match since {
            Some(since) => conn.timed(since),
            None => conn,
        }
    };
    Service::new(
        conn("db").ending(db),
        conn("cache"),
        conn("metrics"),
        conn("log"),
    )
}

fn position(events: &[String], event: &str) -> usize {
    events
        .iter()
        .position(|e| e.starts_with(event))
        .unwrap_or_else(|| panic!("no `{event}` in {events:?}"))
}

#[tokio::test(start_paused = true)]
#[cfg_attr(
    miri,
    ignore = "tokio's timer driver: the waves are checked under Miri below"
)]
async fn concurrent_aclose_takes_three_waves_of_100_ms() {
    let log = Log::new();
    let started = tokio::time::Instant::now();
    let value = service(&log, Wait::Sleep(100), End::Ok, Some(started));
    value.aclose().await.unwrap();
    assert_eq!(started.elapsed(), Duration::from_millis(300)); // not 400: db and metrics overlap
    let events: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|e| !e.starts_with("dropped"))
        .collect();
    assert_eq!(
        events,
        [
            // Wave 1, in teardown order (reverse declaration): metrics, then db.
            "start metrics @0",
            "start db @0",
            "finish metrics @100",
            "finish db @100",
            // Wave 2: cache, after db.
            "start cache @100",
            "finish cache @200",
            // Wave 3: log, after cache and metrics.
            "start log @200",
            "finish log @300",
        ]
    );
}

#[tokio::test(start_paused = true)]
#[cfg_attr(miri, ignore = "tokio's timer driver")]
async fn a_failing_db_still_lets_every_later_wave_run_aclose() {
    let log = Log::new();
    let started = tokio::time::Instant::now();
    let errors = service(&log, Wait::Sleep(100), End::Fail, None)
        .aclose()
        .await
        .unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_millis(300));
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("db"));
    assert_eq!(errors.first().error().to_string(), "db refused");
    let events = log.entries();
    // The fields after db still ran, after it.
    assert!(position(&events, "finish db") < position(&events, "start cache"));
    assert!(position(&events, "finish cache") < position(&events, "start log"));
    assert!(position(&events, "finish metrics") < position(&events, "start log"));
    assert!(events.contains(&"finish log".to_owned()));
}

/// Every `after` of the service, on the minimal executor (Miri too), with every field yielding
/// a different number of times so that finishing order differs from starting order.
#[test]
fn wave_order_honours_every_after_on_any_executor() {
    let log = Log::new();
    let value = Service::new(
        Conn::new("db", &log, Wait::Yields(3)),
        Conn::new("cache", &log, Wait::Yields(1)),
        Conn::new("metrics", &log, Wait::Yields(5)),
        Conn::new("log", &log, Wait::Yields(0)),
    );
    block_on(value.aclose()).unwrap();
    let events = log.entries();
    assert_eq!(
        &events[..4],
        ["start metrics", "start db", "finish db", "dropped db"]
    );
    for (first, then) in [
        ("finish db", "start cache"),
        ("finish cache", "start log"),
        ("finish metrics", "start log"),
    ] {
        assert!(
            position(&events, first) < position(&events, then),
            "{events:?}"
        );
    }
    // Cache (wave 2) started while metrics (wave 1) was still running? No: waves are barriers.
    assert!(position(&events, "finish metrics") < position(&events, "start cache"));
    assert_eq!(
        events.len(),
        12,
        "each field started, finished, dropped once: {events:?}"
    );
}

#[managed(concurrent, limit = 2)]
struct Limited {
    #[managed(aclose = Conn::shutdown)]
    a: Conn,
    #[managed(aclose = Conn::shutdown)]
    b: Conn,
    #[managed(aclose = Conn::shutdown)]
    c: Conn,
}

#[tokio::test(start_paused = true)]
#[cfg_attr(miri, ignore = "tokio's timer driver")]
async fn a_wave_limit_bounds_how_many_close_at_once_aclose() {
    let log = Log::new();
    let started = tokio::time::Instant::now();
    let conn = |name| Conn::new(name, &log, Wait::Sleep(100)).timed(started);
    Limited::new(conn("a"), conn("b"), conn("c"))
        .aclose()
        .await
        .unwrap();
    // One wave of three, two at a time: c and b, then a as soon as a place is free.
    assert_eq!(started.elapsed(), Duration::from_millis(200));
    let starts: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("start"))
        .collect();
    assert_eq!(starts, ["start c @0", "start b @0", "start a @100"]);
}

/// Ranks are barriers between waves; `order = declaration` orders each wave.
#[managed(concurrent, order = declaration)]
struct Ranked {
    #[managed(aclose = Conn::shutdown, rank = 1)]
    late: Conn,
    #[managed(aclose = Conn::shutdown)]
    first: Conn,
    #[managed(aclose = Conn::shutdown)]
    second: Conn,
}

#[test]
fn rank_makes_a_later_wave_and_declaration_order_orders_a_wave() {
    let log = Log::new();
    let value = Ranked::new(
        Conn::new("late", &log, Wait::Yields(0)),
        Conn::new("first", &log, Wait::Yields(2)),
        Conn::new("second", &log, Wait::Yields(1)),
    );
    block_on(value.aclose()).unwrap();
    let starts: Vec<String> = log
        .entries()
        .into_iter()
        .filter(|e| e.starts_with("start"))
        .collect();
    assert_eq!(starts, ["start first", "start second", "start late"]);
    let events = log.entries();
    assert!(position(&events, "finish first") < position(&events, "start late"));
}
