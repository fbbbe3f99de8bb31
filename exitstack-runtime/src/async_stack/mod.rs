//! [`AsyncExitStack`]: Python's `AsyncExitStack` for Rust's async world, built on the same
//! engine as [`ExitStack`](crate::ExitStack): one arena and one last-in-first-out order for
//! sync and async entries, the same errors, exit view, handles and labels.
//!
//! Async entries are ordinary arena entries whose vtable can also build a future
//! (`start_async`). The async loop ([`AsyncExitStack::aclose`], the async scope) pops an entry,
//! runs it if it is sync, or builds and awaits its future if it is async; the sync loop of
//! `Drop` runs sync entries and reports async ones, because Rust has no async `Drop` and
//! blocking a runtime thread on a future can deadlock.
//!
//! No async runtime is a dependency: futures are polled with the caller's waker, and the
//! per-entry time limit takes the caller's timer.
//!
//! | file | concept |
//! |---|---|
//! | `stack.rs` | the type and its async registrations |
//! | `sync_entries.rs` | its sync registrations (those of `ExitStack`) |
//! | `entry.rs` | async entry bodies and their vtables |
//! | `group.rs` | concurrent release groups (`ConcurrentGroup`, `push_concurrent`) |
//! | `join.rs` | the one join: pieces of work polled together, at most `limit` at once |
//! | `close.rs` | the async unwind loop, `aclose`, cancellation, `Drop` |
//! | `close_with.rs` | `aclose_with`: closing as a scope that failed |
//! | `scope.rs` | the async scope function, and its body cancelled |
//! | `handle.rs` | handles to async entries |
//! | `context.rs` | the `AsyncContext` trait |
//! | `lease.rs` | shared leases (`share_async`, `enter_shared`) |
//! | `limit.rs` | per-entry time limit, spawning on drop (`tokio`) |
//! | `grace.rs` | `aclose_within`: one grace period, then force |
//! | `slot.rs` | hot-swap slots released asynchronously (`AsyncSlot`) |
//! | `shield.rs` | `aclose_shielded`: a close that outlives its future (`tokio`) |
//! | `two_phase.rs` | graceful-then-forceful release of one value |
//! | `phase.rs` | `Phase`, `PhaseError` |
//! | `errors.rs` | `TimedOutError`, `NotRunError` |

mod close;
mod close_with;
mod context;
mod entry;
mod errors;
mod grace;
mod group;
mod handle;
pub(crate) mod join;
mod lease;
mod limit;
mod phase;
mod scope;
#[cfg(feature = "tokio")]
mod shield;
mod slot;
mod stack;
mod sync_entries;
mod two_phase;

pub(crate) use close::report_not_run;
pub use close::Aclose;
pub use context::AsyncContext;
pub use errors::{NotRunError, TimedOutError};
pub use group::ConcurrentGroup;
pub use handle::{AsyncEntered, AsyncHandle};
pub use phase::{Phase, PhaseError};
pub use scope::SendScopeFuture;
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use shield::ShieldedClose;
pub use slot::AsyncSlot;
pub use stack::{AsyncExitStack, SendAsyncExitStack};
pub use two_phase::GracefulFuture;
