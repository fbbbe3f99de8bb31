//! `AsyncExitStack` and `Send` stacks on tokio: order and errors, panics, cancelled `aclose`
//! and dropped stacks, scale, the async scope function, `Send` across `.await`. One test binary.
//!
//! Not under Miri: these run on tokio's multi-threaded runtime; the `model` binary drives the
//! same async code paths on a minimal executor that Miri runs.

mod cancel_drop;
#[path = "../shared/echo.rs"]
mod echo;
mod order_errors;
mod panics;
mod pool_spawned;
mod scale;
mod scope_send;
mod send_tokio;
