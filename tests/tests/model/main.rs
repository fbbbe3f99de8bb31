//! Model-based property tests: random programs run on the real `ExitStack`, `AsyncExitStack`
//! and a `#[managed]` struct, and on a reference model written from `SEMANTICS.md`; the two
//! event logs must be equal. Shared leases and hot-swap slots (issue 14) run in every program
//! and in a focused test per stack (half as many programs). One test binary; it runs under Miri
//! (`.ci/miri.sh`) with 8 programs per test.
//!
//! `PROPTEST_CASES` sets the number of programs (default 10,000).

mod async_stack;
mod managed;
mod support;
mod sync_stack;
