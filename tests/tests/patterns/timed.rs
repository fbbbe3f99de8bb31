//! Pattern "timed block": measure and log how long a block took, also when it failed (or
//! panicked). The block does real work: it writes and syncs a file.

use std::fs;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use exitstack::{ExitStack, Flow, ScopeError};

/// One measurement: what was timed, how long it took, how it ended.
#[derive(Debug, Clone)]
struct Timing {
    name: &'static str,
    took: Duration,
    failed: bool,
    panicked: bool,
}

type Timings = Arc<Mutex<Vec<Timing>>>;

/// Registers the timer: an exit handler, so it sees how the block ended, registered first so
/// it runs last and covers every other cleanup too.
fn timed(stack: &ExitStack<'_>, name: &'static str, timings: &Timings) {
    let (started, timings) = (Instant::now(), Arc::clone(timings));
    stack.push_exit(move |exit| {
        timings.lock().unwrap().push(Timing {
            name,
            took: started.elapsed(),
            failed: !exit.ending().is_success(),
            panicked: exit.is_panicking(),
        });
        Flow::Propagate
    });
}

fn write_synced(path: &Path, pause: Duration) -> io::Result<()> {
    std::thread::sleep(pause);
    fs::write(path, b"timed work")?;
    fs::File::open(path)?.sync_all()
}

fn run(name: &'static str, path: &Path, timings: &Timings) -> Result<(), ScopeError<io::Error>> {
    ExitStack::scope(|stack| {
        timed(stack, name, timings);
        write_synced(path, Duration::from_millis(20))
    })
}

#[test]
fn a_block_that_succeeds_is_timed() {
    let dir = tempfile::tempdir().unwrap();
    let timings = Timings::default();
    run("write", &dir.path().join("out"), &timings).unwrap();
    let timings = timings.lock().unwrap();
    let [timing] = &timings[..] else {
        panic!("{timings:?}")
    };
    assert_eq!(timing.name, "write");
    assert!(timing.took >= Duration::from_millis(20), "{timing:?}");
    assert!(!timing.failed && !timing.panicked);
}

#[test]
fn a_block_that_fails_is_timed_and_its_error_kept() {
    let dir = tempfile::tempdir().unwrap();
    let timings = Timings::default();
    let error = run("write", &dir.path().join("missing/out"), &timings).unwrap_err();
    assert_eq!(error.body_error().unwrap().kind(), io::ErrorKind::NotFound);
    let timings = timings.lock().unwrap();
    assert!(timings[0].failed && !timings[0].panicked);
    assert!(timings[0].took >= Duration::from_millis(20));
}

#[test]
fn a_block_that_panics_is_timed() {
    let timings = Timings::default();
    let result = catch_unwind(AssertUnwindSafe(|| {
        ExitStack::scope(|stack| {
            timed(stack, "panicking", &timings);
            std::thread::sleep(Duration::from_millis(5));
            if timings.lock().unwrap().is_empty() {
                panic!("the block panicked");
            }
            Ok::<_, io::Error>(())
        })
    }));
    assert!(result.is_err());
    let timings = timings.lock().unwrap();
    assert!(timings[0].failed && timings[0].panicked);
    assert!(timings[0].took >= Duration::from_millis(5));
}
