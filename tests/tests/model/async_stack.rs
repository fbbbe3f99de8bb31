//! Model-based property test of `AsyncExitStack`: the random programs of `sync_stack.rs`, with
//! every other entry registered in its async form (a future that is pending once before it acts),
//! plus `aclose` cut off at the first async entry in flight and then resumed or dropped. The real
//! log must equal the reference model's (`Model::predict_async`), which adds the rules of
//! `SEMANTICS.md`, "Async", to the sync model: one order for sync and async entries, a cut-off
//! close resumes where it stopped, and a dropped async stack runs its sync entries and reports each
//! async one. Issue 13 added: `aclose_with` (as a scope whose body failed), cancelled scopes (the
//! body future dropped: ending `Cancelled`), two-phase entries (graceful succeeds, fails or
//! panics; forceful likewise; forced when dropped or cut off) and concurrent groups of 2–3
//! branches (limit none, 1 or 2; the model plays the group's polls out, so the interleaving of
//! branches and the flat error order are compared exactly).
//!
//! `PROPTEST_CASES` sets the number of programs (default 10,000; 8 under Miri).

use crate::support::reference::Model;
use crate::support::{cases, program_async, quiet_panics, real_async, Tally};
use proptest::test_runner::{Config, TestRunner};

#[test]
fn real_async_stack_agrees_with_the_model() {
    quiet_panics();
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    let tally = std::cell::RefCell::new(Tally::default());
    let result = TestRunner::new(config).run(&program_async(), |program| {
        let actual = real_async::run(&program);
        tally.borrow_mut().add(&program, &actual);
        let expected = Model::predict_async(&program);
        proptest::prop_assert_eq!(actual, expected);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    tally.borrow().print("model::async_stack");
}
