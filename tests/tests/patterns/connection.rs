//! Pattern "connection object": a connection with connect/close, usable both as a scoped
//! resource and by hand, always closed exactly once. A real SQLite database (rusqlite,
//! bundled) in a temp dir.

use std::path::Path;

use exitstack::ExitStack;
use exitstack_tests::Log;
use rusqlite::Connection;

/// A database connection that logs its close. Closing takes `self`, so "closed once" is a
/// property of the type: it cannot be closed twice, by hand or by a stack.
struct Db {
    conn: Connection,
    log: Log,
}

impl Db {
    fn connect(path: &Path, log: &Log) -> rusqlite::Result<Db> {
        let conn = Connection::open(path)?;
        conn.execute_batch("CREATE TABLE IF NOT EXISTS notes (body TEXT NOT NULL)")?;
        log.push("connected");
        Ok(Db {
            conn,
            log: log.clone(),
        })
    }

    fn add(&self, body: &str) -> rusqlite::Result<()> {
        self.conn
            .execute("INSERT INTO notes (body) VALUES (?1)", (body,))?;
        Ok(())
    }

    fn count(&self) -> rusqlite::Result<i64> {
        self.conn
            .query_one("SELECT COUNT(*) FROM notes", (), |row| row.get(0))
    }
}

impl exitstack::Close for Db {
    type Error = rusqlite::Error;
    fn close(self) -> rusqlite::Result<()> {
        self.log.push("closed");
        self.conn.close().map_err(|(_, error)| error)
    }
}

#[test]
fn as_a_scoped_resource_it_is_closed_once_when_the_stack_closes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let log = Log::new();
    let mut stack = ExitStack::new();
    let db = stack.enter_closing(Db::connect(&path, &log).unwrap());
    db.add("scoped").unwrap();
    assert_eq!(db.count().unwrap(), 1);
    stack.close().unwrap();
    stack.close().unwrap();
    assert_eq!(log.entries(), ["connected", "closed"]);
    // The data reached the file: a new connection sees it.
    let again = Db::connect(&path, &log).unwrap();
    assert_eq!(again.count().unwrap(), 1);
}

#[test]
fn by_hand_it_is_closed_once_by_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let db = Db::connect(&dir.path().join("notes.db"), &log).unwrap();
    db.add("by hand").unwrap();
    exitstack::Close::close(db).unwrap();
    assert_eq!(log.entries(), ["connected", "closed"]);
}

#[test]
fn taken_back_from_a_stack_it_is_not_closed_by_the_stack() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let mut stack = ExitStack::new();
    let db = stack
        .enter_closing(Db::connect(&dir.path().join("notes.db"), &log).unwrap())
        .cancel();
    stack.close().unwrap();
    assert_eq!(
        log.entries(),
        ["connected"],
        "the stack gave it back unclosed"
    );
    exitstack::Close::close(db).unwrap();
    assert_eq!(log.entries(), ["connected", "closed"]);
}

#[test]
fn released_early_it_is_not_closed_again_at_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let mut stack = ExitStack::new();
    let db = stack.enter_closing(Db::connect(&dir.path().join("notes.db"), &log).unwrap());
    db.add("released early").unwrap();
    db.release().unwrap();
    stack.close().unwrap();
    assert_eq!(log.entries(), ["connected", "closed"]);
}

#[test]
fn a_stack_dropped_on_an_error_path_still_closes_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::new();
    let work = || -> rusqlite::Result<()> {
        let stack = ExitStack::new();
        let db = stack.enter_closing(Db::connect(&dir.path().join("notes.db"), &log)?);
        db.conn
            .execute("INSERT INTO no_such_table VALUES (1)", ())?;
        unreachable!("the insert fails");
    };
    assert!(work().is_err());
    assert_eq!(log.entries(), ["connected", "closed"]);
}
