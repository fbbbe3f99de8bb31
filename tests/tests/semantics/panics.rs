//! The rules of `SEMANTICS.md`, "Panics" and "Drop" (repository root): panicking
//! entries, the report channel, and stacks dropped without `close`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::Command;

use exitstack::report::{error_in_drop, ReportReason};
use exitstack::{CleanupError, ExitStack, Flow};
use exitstack_tests::{capture_reports, here, test_name, Captured, Log};

fn payload_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<not a string>")
}

fn summary(reports: &[Captured]) -> Vec<(ReportReason, Option<&str>, &str)> {
    reports
        .iter()
        .map(|r| (r.reason, r.label.as_deref(), r.message.as_str()))
        .collect()
}

#[test]
fn a_panicking_entry_does_not_stop_the_others_and_the_first_panic_is_resumed() {
    let log = Log::new();
    let mut stack = ExitStack::new();
    stack.callback(log.recorder("a"));
    stack.callback(|| panic!("older panic")).label("older");
    stack.callback(log.recorder("b"));
    stack.callback(|| panic!("first panic")).label("first");
    stack.callback(log.recorder("c"));
    let (result, reports) = capture_reports(|| catch_unwind(AssertUnwindSafe(|| stack.close())));
    assert_eq!(payload_text(&*result.unwrap_err()), "first panic");
    assert_eq!(log.entries(), ["c", "b", "a"]);
    // The second panic cannot be resumed too: it is caught and reported, not lost.
    assert_eq!(
        summary(&reports),
        [(
            ReportReason::PanicDuringPanic,
            Some("older"),
            "panicked: older panic"
        )]
    );
    assert!(reports[0].is_panic);
}

#[test]
fn a_stack_dropped_during_a_panic_catches_and_reports_further_panics() {
    let log = Log::new();
    let (result, reports) = capture_reports(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let stack = ExitStack::new();
            stack.callback(log.recorder("ran after both panics"));
            stack.callback(|| panic!("cleanup panic 1")).label("one");
            stack.callback(|| panic!("cleanup panic 2")).label("two");
            panic!("the body's panic");
        }))
    });
    // The process did not abort (this test would not finish) and the body's panic went on.
    assert_eq!(payload_text(&*result.unwrap_err()), "the body's panic");
    assert_eq!(log.entries(), ["ran after both panics"]);
    assert_eq!(
        summary(&reports),
        [
            (
                ReportReason::PanicDuringPanic,
                Some("two"),
                "panicked: cleanup panic 2"
            ),
            (
                ReportReason::PanicDuringPanic,
                Some("one"),
                "panicked: cleanup panic 1"
            ),
        ]
    );
}

/// The same as above, in a child process with nothing catching the panic: the child must end
/// as a normal panic (exit code 101), not an abort, and the default reporter writes to stderr.
#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn dropped_during_a_panic_never_aborts_the_process() {
    const CHILD: &str = "EXITSTACK_S12_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let stack = ExitStack::new();
        stack
            .callback(|| panic!("cleanup panicked in the child"))
            .label("child cleanup");
        panic!("child body panicked");
    }
    let name = test_name(
        module_path!(),
        "dropped_during_a_panic_never_aborts_the_process",
    );
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name])
        .args(["--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // libtest reports the panicking test as failed (exit code 101); an abort would be a signal.
    assert_eq!(output.status.code(), Some(101), "{stderr}");
    assert!(stdout.contains("1 failed"), "{stdout}");
    assert!(stderr.contains("child body panicked"), "{stderr}");
    let expected = format!(
        "exitstack: cleanup panicked during a panic: cleanup `child cleanup` (registered at {}:",
        file!()
    );
    assert!(stderr.contains(&expected), "{stderr}");
}

/// A stack made inside a destructor that runs during a panic: it must not resume a panic (that
/// would abort), and its scope did not panic, it was merely dropped.
struct CleansUpInDrop(Log);
impl Drop for CleansUpInDrop {
    fn drop(&mut self) {
        let log = self.0.clone();
        let mut stack = ExitStack::new();
        stack.callback(|| panic!("panicked inside a destructor"));
        stack.push_exit(move |exit| {
            log.push(format!("{:?}", exit.ending()));
            Flow::Propagate
        });
        let result = stack.close();
        self.0.push(format!("close returned {result:?}"));
    }
}

#[test]
fn a_stack_born_during_a_panic_reports_instead_of_resuming() {
    let log = Log::new();
    let (result, reports) = capture_reports(|| {
        catch_unwind(AssertUnwindSafe(|| {
            let _guard = CleansUpInDrop(log.clone());
            panic!("outer panic");
        }))
    });
    assert_eq!(payload_text(&*result.unwrap_err()), "outer panic");
    assert_eq!(log.entries(), ["Succeeded", "close returned Ok(())"]);
    let [report] = &reports[..] else {
        panic!("{reports:?}")
    };
    assert_eq!(report.reason, ReportReason::PanicDuringPanic);
}

#[test]
fn errors_pending_when_a_panic_is_resumed_are_reported() {
    let mut stack = ExitStack::new();
    stack.callback(|| Err("older error")).label("older");
    stack.callback(|| panic!("resumed"));
    let (file, line) = here();
    stack.callback(|| Err("newer error")).label("newer");
    let (result, reports) = capture_reports(|| catch_unwind(AssertUnwindSafe(|| stack.close())));
    assert_eq!(payload_text(&*result.unwrap_err()), "resumed");
    assert_eq!(
        summary(&reports),
        [
            (ReportReason::LostToPanic, Some("newer"), "newer error"),
            (ReportReason::LostToPanic, Some("older"), "older error"),
        ]
    );
    assert_eq!(reports[0].site, Some((file, line + 1)));
}

#[test]
fn a_panicking_scope_reports_its_cleanup_errors() {
    let (result, reports) = capture_reports(|| {
        catch_unwind(|| {
            ExitStack::scope(|stack| {
                stack.callback(|| Err("cleanup error")).label("cleanup");
                if true {
                    panic!("scope body");
                }
                Ok::<_, std::fmt::Error>(())
            })
        })
    });
    assert_eq!(payload_text(&*result.unwrap_err()), "scope body");
    assert_eq!(
        summary(&reports),
        [(ReportReason::LostToPanic, Some("cleanup"), "cleanup error")]
    );
}

#[test]
fn errors_of_a_stack_dropped_without_close_are_reported_in_order() {
    let ((), reports) = capture_reports(|| {
        let stack = ExitStack::new();
        stack.callback(|| Err("second"));
        stack.callback(|| Err("first")).label("labelled");
    });
    assert_eq!(
        summary(&reports),
        [
            (ReportReason::Dropped, Some("labelled"), "first"),
            (ReportReason::Dropped, None, "second"),
        ]
    );
    // During a panic too.
    let (_, reports) = capture_reports(|| {
        catch_unwind(|| {
            let stack = ExitStack::new();
            stack.callback(|| Err("while panicking"));
            panic!("body");
        })
    });
    assert_eq!(
        summary(&reports),
        [(ReportReason::Dropped, None, "while panicking")]
    );
}

#[test]
fn an_error_from_a_drop_outside_any_stack_is_reported() {
    let ((), reports) =
        capture_reports(|| error_in_drop(CleanupError::new("flush failed in drop")));
    assert_eq!(
        summary(&reports),
        [(ReportReason::DropOutsideStack, None, "flush failed in drop")]
    );
}

#[test]
fn the_scoped_reporter_sees_only_its_own_thread() {
    let ((), reports) = capture_reports(|| {
        std::thread::spawn(|| {
            let ((), theirs) = capture_reports(|| {
                let stack = ExitStack::new();
                stack.callback(|| Err("other thread"));
            });
            assert_eq!(theirs.len(), 1);
        })
        .join()
        .unwrap();
    });
    assert!(reports.is_empty(), "{reports:?}");
}

#[test]
fn a_dropped_stack_runs_every_entry_as_abandoned() {
    let log = Log::new();
    let abandon = |how: &str| -> Result<(), ()> {
        let stack = ExitStack::new();
        stack.callback(log.recorder(format!("{how}: always")));
        stack.callback_on_error(log.recorder(format!("{how}: on error")));
        stack.callback_on_success(log.recorder(format!("{how}: on success")));
        let l = log.clone();
        let how = how.to_owned();
        stack.push_exit(move |exit| {
            l.push(format!("{how}: {:?}", exit.ending()));
            Flow::Propagate
        });
        Err(())?;
        unreachable!()
    };
    let _ = abandon("question mark");
    assert_eq!(
        log.take(),
        [
            "question mark: Abandoned",
            "question mark: on error",
            "question mark: always",
        ]
    );
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let stack = ExitStack::new();
        stack.callback_on_error(log.recorder("panic: on error"));
        stack.callback_on_success(log.recorder("panic: on success"));
        panic!("boom");
    }));
    assert_eq!(log.take(), ["panic: on error"]);
    let mut stack = ExitStack::new();
    stack.callback_on_error(log.recorder("close: on error"));
    stack.callback_on_success(log.recorder("close: on success"));
    stack.close().unwrap();
    assert_eq!(log.take(), ["close: on success"]);
}

#[test]
fn scope_runs_success_or_error_entries_by_its_real_outcome() {
    let log = Log::new();
    for fail in [false, true] {
        let _ = ExitStack::scope(|stack| {
            stack.callback_on_error(log.recorder(format!("fail={fail}: on error")));
            stack.callback_on_success(log.recorder(format!("fail={fail}: on success")));
            if fail {
                Err(std::fmt::Error)
            } else {
                Ok(())
            }
        });
    }
    assert_eq!(
        log.take(),
        ["fail=false: on success", "fail=true: on error"]
    );
}

#[test]
fn a_scope_body_panic_is_resumed_and_cleanup_panics_are_reported() {
    let log = Log::new();
    let (result, reports) = capture_reports(|| {
        catch_unwind(AssertUnwindSafe(|| {
            ExitStack::scope(|stack| {
                stack.callback(log.recorder("ran after the cleanup panic"));
                stack.callback(|| panic!("cleanup panic")).label("cleanup");
                if true {
                    panic!("body panic");
                }
                Ok::<_, std::fmt::Error>(())
            })
        }))
    });
    assert_eq!(payload_text(&*result.unwrap_err()), "body panic");
    assert_eq!(log.entries(), ["ran after the cleanup panic"]);
    assert_eq!(
        summary(&reports),
        [(
            ReportReason::PanicDuringPanic,
            Some("cleanup"),
            "panicked: cleanup panic"
        )]
    );
}

/// The default reporter writes to standard error. If that is a closed pipe, writing fails;
/// during a panic, a reporter that panicked on that failure would abort the process.
#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn the_default_reporter_survives_a_closed_stderr_during_a_panic() {
    const CHILD: &str = "EXITSTACK_S13_CLOSED_STDERR";
    let name = &test_name(
        module_path!(),
        "the_default_reporter_survives_a_closed_stderr_during_a_panic",
    );
    if std::env::var_os(CHILD).is_some() {
        // Wait until the parent has closed its end of the pipe.
        while std::io::Write::write_all(&mut std::io::stderr(), b"probe\n").is_ok() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let result = catch_unwind(|| {
            let stack = ExitStack::new();
            stack.callback(|| Err("reported to a closed stderr"));
            panic!("child body");
        });
        assert!(result.is_err());
        println!("child survived");
        return;
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // close the read end: the child's stderr is now a broken pipe
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{:?}\n{stdout}", output.status);
    assert!(stdout.contains("child survived"), "{stdout}");
}
