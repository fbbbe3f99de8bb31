//! Stress: unwinding without recursion at scale (ten million entries, deep nesting, long error
//! chains), stacks handed between threads, and every kind of entry panicking during a panic.
//! One test binary.
//!
//! Runs under Miri (`.ci/miri.sh`) at reduced sizes, and under valgrind (`.ci/leaks.sh`) with
//! `EXITSTACK_STRESS=small`.

mod panics;
mod scale;
mod sync_stack;
mod threads;
