//! Runs the demo (`examples/demo.rs`, logic in `src/demo.rs`) and checks what it promises:
//! nothing left on disk, the port free again, and the release order and errors as expected.

use std::net::TcpListener;
use std::path::PathBuf;

use exitstack::report::ReportReason;
use exitstack_tests::demo::{self, DemoError};
use exitstack_tests::Log;

/// Binding the port again proves the server's listening socket was closed.
fn assert_port_free(port: u16) {
    let listener = TcpListener::bind(("127.0.0.1", port));
    assert!(listener.is_ok(), "port {port} still taken: {listener:?}");
}

/// `events` must start with these prefixes, in this order, and have no others.
fn assert_prefixes(events: &[String], prefixes: &[&str]) {
    assert_eq!(events.len(), prefixes.len(), "{events:#?}");
    for (event, prefix) in events.iter().zip(prefixes) {
        assert!(
            event.starts_with(prefix),
            "{event:?} should start with {prefix:?}"
        );
    }
}

#[test]
fn demo_releases_everything_in_order_and_reports_every_error() {
    let mut printed = Vec::new();
    let run = demo::run(&mut printed).expect("set-up succeeds");
    let printed = String::from_utf8(printed).unwrap();

    assert!(
        !run.work_dir.exists(),
        "{} left behind",
        run.work_dir.display()
    );
    assert!(
        !run.cache_dir.exists(),
        "{} left behind",
        run.cache_dir.display()
    );
    assert_port_free(run.port);
    assert!(run.teardown.is_empty(), "{:?}", run.teardown);
    assert!(printed.contains("tear-down: clean"), "{printed}");
    // The printout names the paths and port it used.
    assert!(
        printed.contains(&run.work_dir.display().to_string()),
        "{printed}"
    );
    assert!(printed.contains(&format!("port {}", run.port)), "{printed}");

    assert_prefixes(
        &run.released,
        &[
            // the tampered artifact: removal arranged, then run (checksum file last registered)
            "removed nightly.tar.sum",
            "removed nightly.tar",
            // its session stack, dropped by `?`: the exit handler sees the drop
            "reporting failed fetch of nightly.tar",
            // the scope's stack, newest first, with the body's error pending
            "uploading audit log",
            "closed manifest.txt",
            "removed manifest.txt (the run failed)",
            "stopped timer after",
            // tear-down of what set-up handed over with pop_all
            &format!("stopped http server on port {}", run.port),
            "removed cache dir",
            "removed work dir",
        ],
    );
    assert!(
        run.released[6].ends_with("(failing: true)"),
        "{:?}",
        run.released[6]
    );

    let [body, audit] = &run.returned[..] else {
        panic!(
            "expected the body's error and one cleanup error: {:?}",
            run.returned
        );
    };
    assert_eq!(body.label, None);
    assert!(
        body.message
            .starts_with("checksum mismatch for nightly.tar"),
        "{body:?}"
    );
    assert_eq!(audit.label.as_deref(), Some("upload audit log"));
    assert_eq!(audit.message, "/audit: HTTP 503");
    let site = audit.site.as_deref().unwrap();
    assert!(site.starts_with("tests/src/demo.rs:"), "{site}");

    let [report] = &run.reported[..] else {
        panic!("expected one report: {:?}", run.reported);
    };
    assert_eq!(report.reason, ReportReason::Dropped);
    assert_eq!(report.label.as_deref(), Some("report failed fetch"));
    assert_eq!(report.message, "/audit: HTTP 503");
    let (file, line) = report.site.clone().unwrap();
    assert_eq!(file, "tests/src/demo.rs");
    assert!(
        printed.contains(&format!("registered at {file}:{line}")),
        "{printed}"
    );
    assert!(printed.contains("fetched release.tar"), "{printed}");
}

#[test]
fn demo_set_up_that_fails_part_way_cleans_up_at_once() {
    let log = Log::new();
    let error = demo::set_up(&log, "/no-such-health-check").unwrap_err();
    assert!(
        matches!(error, DemoError::Http { status: 404, .. }),
        "{error}"
    );
    let events = log.entries();
    let path_after = |prefix: &str| -> PathBuf {
        let event = events.iter().find(|e| e.starts_with(prefix)).unwrap();
        PathBuf::from(&event[prefix.len()..])
    };
    let (work, cache) = (
        path_after("created work dir "),
        path_after("created cache dir "),
    );
    let started = events
        .iter()
        .find_map(|e| e.strip_prefix("started http server on port "))
        .unwrap();
    let port: u16 = started.split(' ').next().unwrap().parse().unwrap();
    assert_prefixes(
        &events[3..],
        &[
            &format!("stopped http server on port {port}"),
            "removed cache dir",
            "removed work dir",
        ],
    );
    assert!(!work.exists() && !cache.exists());
    assert_port_free(port);
}

#[test]
fn demo_checksum_is_fnv1a_64() {
    // Published test vectors of FNV-1a 64.
    assert_eq!(demo::checksum(b""), "cbf29ce484222325");
    assert_eq!(demo::checksum(b"a"), "af63dc4c8601ec8c");
    assert_eq!(demo::checksum(b"foobar"), "85944171f73967e8");
}
