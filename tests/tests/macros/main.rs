//! The macros: `defer!`, `stack_callback!`, `#[with_stack]` (sync and async, every error type)
//! and `#[managed]`. One test binary; it runs under Miri (`.ci/miri.sh`).

mod defer;
mod defer_async;
mod managed;
mod managed_async;
mod managed_waves;
mod with_stack;
mod with_stack_async;
mod with_stack_errors;
