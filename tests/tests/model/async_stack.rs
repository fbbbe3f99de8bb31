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
//! branches and the flat error order are compared exactly). Issue 14 added shared values
//! (`share` / `enter_shared` on the async stack, leases on sync extra stacks) and async slots
//! (`async_slot`, `replace(..).await`; sync slots where entries are registered on the
//! `&ExitStack` of a callback), with a second test focused on them.
//!
//! `PROPTEST_CASES` sets the number of programs (default 10,000; 8 under Miri).

use crate::support::reference::Model;
use crate::support::{agrees_with_the_model, cases, focused_cases, Program};
use crate::support::{program_async, program_leases, real_async};
use proptest::strategy::Strategy;

fn run(name: &str, cases: u32, programs: impl Strategy<Value = Program>) {
    agrees_with_the_model(name, cases, programs, real_async::run, Model::predict_async);
}

#[test]
fn real_async_stack_agrees_with_the_model() {
    run("model::async_stack", cases(), program_async());
}

/// Programs made mostly of shared values and async slots on an async stack (cut-off closes
/// and cancelled scopes included): who tears a shared value down, and when, and each slot
/// value's release (awaited by `replace` and `aclose`, reported when the stack is dropped).
#[test]
fn async_shared_teardown_and_slot_releases_agree_with_the_model() {
    run(
        "model::async_stack (shared, slot)",
        focused_cases(),
        program_leases(true),
    );
}
