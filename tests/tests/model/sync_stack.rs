//! Model-based property test of the synchronous `ExitStack`: random programs (every kind of
//! entry, failing and panicking ones, exit handlers that suppress, contexts whose enter fails,
//! cancel and run-now, `pop_all`, `close`, nested stacks, entries registered during the
//! unwind, drop without close, drop during a panic, `close_with(error)`, and the scope function
//! with `Ok`, `Err` and panicking bodies) run against the real stack and against the reference
//! model in `support/reference/`; the two event logs must be identical. Issue 14 added shared
//! values (`share`, leases on 0–2 extra stacks closed or dropped among the ops or after the main
//! stack, kept `Shared`s dropped or released) and hot-swap slots (0–3 `replace`s, some inside a
//! panic, then kept, cleared or taken), with a second test focused on them.
//!
//! `PROPTEST_CASES` sets the number of programs (default 10,000; 8 under Miri).

use crate::support::reference::Model;
use crate::support::{agrees_with_the_model, cases, focused_cases, Program};
use crate::support::{program, program_leases, real};
use proptest::strategy::Strategy;

fn run(name: &str, cases: u32, programs: impl Strategy<Value = Program>) {
    agrees_with_the_model(name, cases, programs, real::run, Model::predict);
}

#[test]
fn real_stack_agrees_with_the_model() {
    run("model::sync_stack", cases(), program());
}

/// Programs made mostly of shared values and slots: the model decides which let-go of a shared
/// value is the last (a lease entry of the main or an extra stack, a holder's drop, a cancelled
/// lease, a kept `Shared` dropped or released) and so where its teardown's error or panic
/// goes; each shared value is torn down exactly once and each slot value released at most once.
#[test]
fn shared_teardown_runs_once_where_the_last_lease_goes_and_slot_values_release_once() {
    run(
        "model::sync_stack (shared, slot)",
        focused_cases(),
        program_leases(false),
    );
}
