//! Pattern "transaction": begin; commit on success; roll back on error or panic, and the
//! error still propagates. A real SQLite database (rusqlite, bundled) in a temp dir.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};

use exitstack::{ExitStack, Flow, ScopeError};
use exitstack_tests::Log;
use rusqlite::Connection;

#[derive(Debug)]
struct TxError(String);
impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for TxError {}
impl From<rusqlite::Error> for TxError {
    fn from(error: rusqlite::Error) -> Self {
        TxError(error.to_string())
    }
}

/// Runs `body` in a transaction: the exit handler commits when the scope succeeded and rolls
/// back otherwise (failed, or panicked); a failed commit joins the scope's errors.
fn transaction<T>(
    conn: &Connection,
    log: &Log,
    body: impl FnOnce(&Connection) -> Result<T, TxError>,
) -> Result<T, ScopeError<TxError>> {
    ExitStack::scope(|stack| {
        conn.execute_batch("BEGIN")?;
        let log = log.clone();
        stack.push_exit(move |exit| {
            let statement = if !exit.ending().is_success() {
                "ROLLBACK"
            } else {
                "COMMIT"
            };
            log.push(statement);
            conn.execute_batch(statement).map(|()| Flow::Propagate)
        });
        body(conn)
    })
}

fn setup() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = Connection::open(dir.path().join("bank.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE accounts (name TEXT PRIMARY KEY, balance INTEGER NOT NULL CHECK (balance >= 0));
         INSERT INTO accounts VALUES ('alice', 100), ('bob', 0);",
    )
    .unwrap();
    (dir, conn)
}

fn balances(conn: &Connection) -> (i64, i64) {
    let get = |name: &str| -> i64 {
        conn.query_one(
            "SELECT balance FROM accounts WHERE name = ?1",
            (name,),
            |r| r.get(0),
        )
        .unwrap()
    };
    (get("alice"), get("bob"))
}

fn transfer(conn: &Connection, amount: i64) -> Result<(), TxError> {
    conn.execute(
        "UPDATE accounts SET balance = balance + ?1 WHERE name = 'bob'",
        (amount,),
    )?;
    conn.execute(
        "UPDATE accounts SET balance = balance - ?1 WHERE name = 'alice'",
        (amount,),
    )?;
    Ok(())
}

#[test]
fn success_commits() {
    let (_dir, conn) = setup();
    let log = Log::new();
    transaction(&conn, &log, |conn| transfer(conn, 30)).unwrap();
    assert_eq!(log.entries(), ["COMMIT"]);
    assert_eq!(balances(&conn), (70, 30));
    assert!(conn.is_autocommit(), "no transaction left open");
}

#[test]
fn an_error_rolls_back_and_still_propagates() {
    let (_dir, conn) = setup();
    let log = Log::new();
    // Bob is credited first, then Alice's debit violates the CHECK: all of it must go.
    let error = transaction(&conn, &log, |conn| transfer(conn, 500)).unwrap_err();
    assert!(
        error
            .body_error()
            .unwrap()
            .0
            .contains("CHECK constraint failed"),
        "{error}"
    );
    assert!(error.cleanup_errors().is_none());
    assert_eq!(log.entries(), ["ROLLBACK"]);
    assert_eq!(balances(&conn), (100, 0));
    assert!(conn.is_autocommit());
}

#[test]
fn a_panic_rolls_back_and_the_panic_propagates() {
    let (_dir, conn) = setup();
    let log = Log::new();
    let payload = catch_unwind(AssertUnwindSafe(|| {
        transaction(&conn, &log, |conn| -> Result<(), TxError> {
            transfer(conn, 10)?;
            panic!("bug in the middle of a transaction");
        })
    }))
    .unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"bug in the middle of a transaction")
    );
    assert_eq!(log.entries(), ["ROLLBACK"]);
    assert_eq!(balances(&conn), (100, 0));
}

#[test]
fn a_failed_commit_is_an_error_of_the_scope() {
    let (_dir, conn) = setup();
    let log = Log::new();
    // The body ends the transaction itself, so the handler's COMMIT has nothing to commit.
    let error = transaction(&conn, &log, |conn| {
        conn.execute_batch("COMMIT")?;
        Ok(())
    })
    .unwrap_err();
    assert!(error.body_error().is_none());
    let cleanup = error.cleanup_errors().unwrap();
    assert_eq!(cleanup.len(), 1);
    assert!(cleanup
        .first()
        .error()
        .to_string()
        .contains("no transaction is active"));
    assert_eq!(log.entries(), ["COMMIT"]);
}
