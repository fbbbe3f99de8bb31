//! Hostile values (`SEMANTICS.md`, "Hostile values"): code the library does not own panics in
//! every place safe Rust allows, and `Drop`s build, fill and cancel stacks. One test binary; it
//! runs under Miri (`.ci/miri.sh`). Scenarios that aborted the process before their fix run here
//! in a child process (native only); the `hostile_aborts` binary runs them in process.

mod async_stack;
mod support;
mod sync_stack;
