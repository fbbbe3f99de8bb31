//! The rules of `SEMANTICS.md` (repository root), one example at a time, and misuse of the API
//! around them. One test binary; unwinding at scale is in the `stress` binary.
//!
//! Runs under Miri (`.ci/miri.sh`); the tests that spawn a child process are skipped there.

mod entries;
mod errors;
mod misuse_handles;
mod misuse_unwind;
mod one_way;
mod panics;
