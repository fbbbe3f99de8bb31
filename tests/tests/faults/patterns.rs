//! Fault injection on three patterns with real resources: all-or-nothing (open N files),
//! temporary directories (a run-time number of them) and transaction (SQLite). Every
//! acquisition step in turn fails or panics, and independently every release step in turn
//! fails or panics (after releasing). After each run: no file descriptor, directory or
//! uncommitted row is left, and every injected fault is reported exactly once (returned,
//! resumed as the panic, or on the report channel).
//!
//! Not under Miri: real files, SQLite (C) and `/proc/self/fd`.
#![cfg(not(miri))]

use std::fs::File;
use std::io;
use std::path::Path;
use std::rc::Rc;

use crate::support::{
    assert_reported_once, errors, faults, leaked_by_rustc, observe, scope_failure,
};
use crate::support::{beside_others, quiet_injected_panics, raw};
use crate::support::{Created, Fault, Injector, Produced};
use exitstack::{Close, ExitStack, Flow};

const FILES: usize = 4;

/// A `?` error travelling through a dropped stack whose cleanup panics is dropped with the
/// panic (Rust drops the value being returned while unwinding): the one fault that may be lost.
/// (Inside `ExitStack::scope` it is not: the scope reports its body's error.)
fn lost_to_a_cleanup_panic(acquire: Fault, fired: &[String]) -> Vec<String> {
    let release_panicked = fired
        .iter()
        .any(|f| f.contains("release") && f.ends_with("panicked"));
    match (acquire, release_panicked) {
        (Fault::Fail(_), true) => fired
            .iter()
            .filter(|f| f.contains("acquire"))
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// All-or-nothing: opens `FILES` files; if any step fails, those opened are closed at once;
/// otherwise they move to the caller, who closes them all in one call.
fn open_all(
    dir: &Path,
    inject: &Rc<Injector>,
    created: &Created,
) -> io::Result<ExitStack<'static>> {
    let mut stack = ExitStack::new();
    for i in 0..FILES {
        inject.acquire()?;
        let file = File::create(dir.join(format!("{i}.log")))?;
        created.fd(raw(&file));
        let inject = Rc::clone(inject);
        let _ = stack.guard(file, move |file| {
            drop(file);
            inject.release()
        });
    }
    Ok(stack.pop_all())
}

/// Temporary directories: makes `FILES` temporary directories, each removed at the end even if a
/// later one failed.
fn make_dirs(inject: &Rc<Injector>, created: &Created) -> io::Result<ExitStack<'static>> {
    let mut stack = ExitStack::new();
    for _ in 0..FILES {
        inject.acquire()?;
        let dir = tempfile::Builder::new().prefix("exitstack-p5-").tempdir()?;
        created.paths.borrow_mut().push(dir.path().to_owned());
        let inject = Rc::clone(inject);
        let _ = stack.guard(dir, move |dir| dir.close().and_then(|()| inject.release()));
    }
    Ok(stack.pop_all())
}

/// Runs every combination of faults; `scoped`: the acquisitions run directly in a scope body.
fn run_all_faults(
    name: &str,
    steps: usize,
    scoped: bool,
    run: impl Fn(Fault, Fault) -> (Produced, Vec<String>),
) -> usize {
    let mut injected = 0;
    for acquire in faults(steps) {
        for release in faults(steps) {
            if !scoped && leaked_by_rustc(acquire, release) {
                continue;
            }
            let (produced, fired) = run(acquire, release);
            let case = format!("{name}: {acquire:?} {release:?}");
            let lost = match scoped {
                true => Vec::new(),
                false => lost_to_a_cleanup_panic(acquire, &fired),
            };
            assert_reported_once(&case, &produced, &fired, &lost);
            injected += fired.len();
        }
    }
    let mut runs = (2 * steps + 1) * (2 * steps + 1);
    if !scoped && leaked_by_rustc(Fault::Fail(0), Fault::Panic(0)) {
        runs -= steps * steps;
    }
    eprintln!("faults::patterns, {name}: {runs} runs, {injected} faults injected, nothing left");
    injected
}

#[test]
fn all_or_nothing_files_under_every_fault() {
    let _process = beside_others();
    quiet_injected_panics();
    let injected = run_all_faults("all-or-nothing", FILES, false, |acquire, release| {
        let dir = tempfile::tempdir().unwrap();
        let inject = Rc::new(Injector::new(acquire, release));
        let created = Created::default();
        let produced = observe(|| match open_all(dir.path(), &inject, &created) {
            Err(error) => vec![error.to_string()],
            Ok(files) => errors(ExitStack::close(&mut { files })),
        });
        created.assert_all_released();
        let fired = inject.fired.borrow().clone();
        (produced, fired)
    });
    assert!(injected >= FILES * 2 * FILES, "{injected}");
}

#[test]
fn temporary_directories_under_every_fault() {
    let _process = beside_others();
    quiet_injected_panics();
    let injected = run_all_faults("temporary directories", FILES, false, |acquire, release| {
        let inject = Rc::new(Injector::new(acquire, release));
        let created = Created::default();
        let produced = observe(|| {
            let outcome = ExitStack::scope(|stack| {
                let dirs = make_dirs(&inject, &created)?;
                stack.push_stack(dirs);
                Ok::<_, io::Error>(created.paths.borrow().len())
            });
            match outcome {
                Ok(made) => {
                    assert_eq!(made, FILES);
                    Vec::new()
                }
                Err(error) if error.is_suppressed() => panic!("nothing suppresses: {error}"),
                Err(error) => scope_failure(error),
            }
        });
        created.assert_all_released();
        let fired = inject.fired.borrow().clone();
        (produced, fired)
    });
    assert!(injected >= FILES * 2 * FILES, "{injected}");
}

/// An SQLite connection released through `Close` (rusqlite's close can fail).
struct Db(Rc<rusqlite::Connection>, Rc<Injector>);

impl Close for Db {
    type Error = io::Error;
    fn close(self) -> io::Result<()> {
        let connection = Rc::try_unwrap(self.0).map_err(|_| io::Error::other("still shared"))?;
        connection
            .close()
            .map_err(|(_, error)| io::Error::other(error))?;
        self.1.release()
    }
}

/// Transaction: inserts `FILES` rows in one transaction: committed if the body succeeds, rolled
/// back on an error or a panic, and the error still propagates.
fn insert_rows(db: &Path, inject: &Rc<Injector>) -> Result<(), exitstack::ScopeError<io::Error>> {
    ExitStack::scope(|stack| {
        inject.acquire()?;
        let sqlite = |e: rusqlite::Error| io::Error::other(e);
        let connection = Rc::new(rusqlite::Connection::open(db).map_err(sqlite)?);
        let _ = stack.enter_closing(Db(Rc::clone(&connection), Rc::clone(inject)));
        connection.execute_batch("BEGIN").map_err(sqlite)?;
        let (tx, release) = (Rc::clone(&connection), Rc::clone(inject));
        let _ = stack.push_exit(move |exit| {
            let end = if !exit.ending().is_success() {
                "ROLLBACK"
            } else {
                "COMMIT"
            };
            tx.execute_batch(end).map_err(sqlite)?;
            drop(tx);
            release.release().map(|()| Flow::Propagate)
        });
        for row in 0..FILES as i64 {
            inject.acquire()?;
            connection
                .execute("INSERT INTO t VALUES (?1)", [row])
                .map_err(sqlite)?;
        }
        Ok(())
    })
}

/// Descriptors of this process open on `path`.
fn open_on(path: &Path) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter(|target| target.starts_with(path))
        .count()
}

#[test]
fn transaction_rolls_back_under_every_fault() {
    let _process = beside_others();
    quiet_injected_panics();
    let injected = run_all_faults("transaction", FILES + 1, true, |acquire, release| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("bank.db");
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch("CREATE TABLE t (row INTEGER)")
            .unwrap();
        let inject = Rc::new(Injector::new(acquire, release));
        let produced = observe(|| match insert_rows(&db, &inject) {
            Ok(()) => Vec::new(),
            Err(error) if error.is_suppressed() => panic!("nothing suppresses: {error}"),
            Err(error) => scope_failure(error),
        });
        assert_eq!(open_on(dir.path()), 0, "the database is still open");
        let rows: i64 = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        let committed = if acquire == Fault::None {
            FILES as i64
        } else {
            0
        };
        assert_eq!(
            rows, committed,
            "transaction {acquire:?} {release:?}: partial transaction"
        );
        let fired = inject.fired.borrow().clone();
        (produced, fired)
    });
    assert!(injected > 0);
}
