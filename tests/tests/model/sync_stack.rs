//! Model-based property test of the synchronous `ExitStack`: random programs (every kind of
//! entry, failing and panicking ones, exit handlers that suppress, contexts whose enter fails,
//! cancel and run-now, `pop_all`, `close`, nested stacks, entries registered during the
//! unwind, drop without close, drop during a panic, `close_with(error)`, and the scope function with `Ok`, `Err` and
//! panicking bodies) run against the real stack and against the reference model in
//! `support/reference/`; the two event logs must be identical.
//!
//! `PROPTEST_CASES` sets the number of programs (default 10,000; 8 under Miri).

use crate::support::reference::Model;
use crate::support::{cases, program, quiet_panics, real, Event, Program, Tally};
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Every id runs at most once in a log (the model checks the rest of exactly-once).
fn at_most_once(log: &[Event]) -> Result<(), TestCaseError> {
    let mut seen = std::collections::HashSet::new();
    for event in log {
        if let Event::Ran(id) | Event::Seen { id, .. } = event {
            if !seen.insert(*id) {
                return Err(TestCaseError::fail(format!("entry {id} ran twice")));
            }
        }
    }
    Ok(())
}

fn check(program: &Program) -> Result<(), TestCaseError> {
    let actual = real::run(program);
    let expected = Model::predict(program);
    at_most_once(&actual)?;
    proptest::prop_assert_eq!(actual, expected);
    Ok(())
}

#[test]
fn real_stack_agrees_with_the_model() {
    quiet_panics();
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let tally = std::cell::RefCell::new(Tally::default());
    let result = runner.run(&program(), |program| {
        tally.borrow_mut().add(&program, &real::run(&program));
        check(&program)
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    tally.borrow().print("model::sync_stack");
}
