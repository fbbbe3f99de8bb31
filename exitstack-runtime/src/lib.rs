//! Python's `contextlib.ExitStack` for Rust: register any number of cleanups at run time, have
//! them unwound last-in-first-out on every path, let a cleanup see (and handle) the error in
//! flight, and hand acquired resources to the caller only when all of them succeeded.
//!
//! ```
//! use exitstack::ExitStack;
//! use std::fs::File;
//! use std::io::Write;
//!
//! fn open_all(dir: &std::path::Path, names: &[&str]) -> std::io::Result<ExitStack<'static>> {
//!     let mut stack = ExitStack::new();
//!     for name in names {
//!         // If a later `create` fails, `?` drops `stack`, which closes the files opened so far.
//!         let mut file = stack.enter(File::create(dir.join(name))?);
//!         file.write_all(b"header\n")?;
//!     }
//!     Ok(stack.pop_all()) // everything opened: hand the files to the caller
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let mut files = open_all(dir.path(), &["a.log", "b.log"])?;
//! files.close()?; // closes b.log, then a.log, and returns every error
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What `Drop` and scope guards cannot do, and this crate does:
//! - cleanups that fail return their errors, all of them, in order ([`UnwindError`]);
//! - exit handlers see the pending error and may suppress it ([`ExitStack::push_exit`]);
//! - error-only and success-only cleanups ([`ExitStack::callback_on_error`]) decided by how the
//!   scope really ended ([`Ending`]);
//! - a panicking cleanup never stops the others and never aborts, even during a panic;
//! - errors that cannot be returned go to a [report channel](report), never nowhere;
//! - resources move out of a scope all at once with [`ExitStack::pop_all`].
//!
//! # The story
//!
//! **Register** what to undo as you acquire it: [`ExitStack::callback`] for a closure,
//! [`ExitStack::enter`] for a value to drop (it derefs to the value), [`ExitStack::guard`] for a
//! value with its own teardown, [`ExitStack::enter_context`] for a [`Context`] (Python's
//! `__enter__`/`__exit__`), [`ExitStack::push_exit`] for a handler that sees the error in
//! flight. Each returns a handle to cancel the entry, release it now, or label it for reports.
//!
//! **Unwind** on every path: [`ExitStack::close`] runs everything newest first and returns every
//! error; [`ExitStack::scope`] runs a body and unwinds with its real outcome, so handlers see the
//! body's `Err` and error-only cleanups run on it; a stack dropped without `close` (a `?`, an
//! early return, a panic) still runs every entry and reports what it could not return.
//!
//! ```
//! use exitstack::{ExitStack, Flow};
//! use std::cell::RefCell;
//!
//! let log = RefCell::new(Vec::new());
//! let error = ExitStack::scope(|stack| {
//!     stack.callback_on_error(|| log.borrow_mut().push("rolled back"));
//!     stack.push_exit(|exit| {
//!         log.borrow_mut().push("saw the error");
//!         Flow::suppress_if(exit.error().is_some()) // handled: the scope reports it suppressed
//!     });
//!     Err::<(), _>(std::fmt::Error)
//! })
//! .unwrap_err(); // no value either way: the body returned `Err`
//! assert!(error.is_suppressed());
//! // The handler ran first (last in, first out); once it had suppressed the error the scope
//! // unwound as one that succeeded, so the rollback did not run.
//! assert_eq!(*log.borrow(), ["saw the error"]);
//! ```
//!
//! **Hand over** what a scope acquired only when all of it succeeded: [`ExitStack::pop_all`]
//! moves every entry into a new stack in constant time (see the first example).
//!
//! **Structs and functions**: [`#[managed]`](macro@managed) gives a struct ordered, fallible,
//! panic-safe teardown of its fields and a rolling-back constructor; [`defer!`] is a scope guard,
//! or a registration on a stack; [`#[with_stack]`](macro@with_stack) gives a function a stack that
//! unwinds with the function's real return value.
//!
//! **Async**: [`AsyncExitStack`] holds sync and async cleanups in one order;
//! [`aclose`](AsyncExitStack::aclose) awaits the async ones, and a cancelled `aclose` loses
//! nothing. A scope whose body is cancelled unwinds as [`Ending::Cancelled`];
//! [`close_with`](ExitStack::close_with) / [`aclose_with`](AsyncExitStack::aclose_with) close
//! with a reason handlers see; [`push_async_graceful`](AsyncExitStack::push_async_graceful)
//! releases a value gracefully, or forcefully when that fails or runs out of time;
//! [`aclose_within`](AsyncExitStack::aclose_within) bounds a whole close by one grace period,
//! and `aclose_shielded` (feature `tokio`) lets a close outlive its cancelled future.
//! [`push_concurrent`](AsyncExitStack::push_concurrent) releases independent resources at the
//! same time, and [`UnwindError::tree`] shows which failures were sequential and which concurrent.
//!
//! **Shared and swapped values**: [`ExitStack::share`] registers a lease on a value and returns
//! a [`Shared`] for other stacks ([`ExitStack::enter_shared`]), threads or tasks; the teardown
//! runs once, where the last lease is let go. [`ExitStack::slot`] takes one position whose value
//! is swapped ([`Slot::replace`] releases the old one at once); [`AsyncSlot`] awaits it.
//!
//! **Small stacks cost little**: the first entries (four of up to three words each) live in the
//! stack itself, so a small stack allocates nothing; a cleanup costs a few dozen instructions.
//!
//! # Pitfalls
//!
//! - **A bare [`defer!`] only sees panics.** Outside a stack, `defer!(on_panic { .. })` runs when
//!   a panic drops the guard and `defer!(on_no_panic { .. })` otherwise, after a `?` too. To run
//!   on an `Err` or a `?`, register on a stack: `defer!(stack => on_error { .. })`.
//! - **Inside `#[with_stack]`, a bare `defer!` in the function's outermost block joins the
//!   function's stack** (so every cleanup there shares one order). Like every entry of that
//!   stack it may not borrow the body's locals: move what it needs into it.
//! - **A handle borrows its stack.** While an [`Entered`] or [`Handle`] lives, the stack cannot
//!   be closed or `pop_all`ed (both take `&mut self`); turn an `Entered` into a plain reference
//!   with [`Entered::into_mut`] when you only need the value.
//! - **A cleanup that needs `&mut` access to a value** cannot borrow it while the body still
//!   uses it: hand the value to the stack with [`ExitStack::guard`] (its teardown receives it by
//!   value) and reach it through the returned [`Entered`] meanwhile.
//! - **Dropping is not closing.** A dropped stack runs its entries, but its errors can only be
//!   reported; call `close` (or use `scope`) where you want them back.
//! - **Async entries need `aclose`.** Dropping an [`AsyncExitStack`] runs its sync entries and
//!   reports the async ones as not run (or spawns them with the `tokio` feature's
//!   `spawn_on_drop`); it never blocks.
//!
//! The rules the tests pin are in `SEMANTICS.md`, what holds against misbehaving values in
//! `RELIABILITY.md`, and the measured costs in `BENCHMARKS.md` (repository root).
//!
//! # Leaking
//!
//! `std::mem::forget` on a stack (or a reference cycle that keeps it alive) skips its cleanups,
//! as it does for any Rust value: forgetting is safe, and the entries are leaked, not run.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod arena;
mod async_stack;
mod caught;
mod context;
mod decorate;
mod defer;
mod ending;
mod entry;
mod error;
mod error_tree;
mod exit;
mod handle;
#[cfg(any(feature = "miette", feature = "error-stack"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "miette", feature = "error-stack"))))]
pub mod interop;
mod lease;
mod managed;
mod managed_async;
mod output;
mod pending;
pub mod report;
mod scope;
mod site;
mod slot;
mod stack;
mod threading;
#[cfg(feature = "tracing")]
#[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
pub mod trace;
mod unwind;

#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub use async_stack::ShieldedClose;
pub use async_stack::{
    Aclose, AsyncContext, AsyncEntered, AsyncExitStack, AsyncHandle, AsyncSlot, ConcurrentGroup,
    GracefulFuture, NotRunError, Phase, PhaseError, SendAsyncExitStack, SendScopeFuture,
    TimedOutError,
};
pub use context::{Close, Context};
pub use ending::{Ending, Flow};
pub use error::{BoxError, CleanupError, PanicError, UnwindError};
pub use error_tree::{ErrorTree, InnerNode, NodeKind, Nodes, TreeNode};
pub use exit::Exit;
pub use handle::{Entered, Handle};
pub use lease::Shared;
pub use managed::{ManagedField, RollbackError};
pub use output::{CleanupOutput, ExitOutput};
pub use scope::ScopeError;
pub use slot::Slot;
pub use stack::{ExitStack, SendExitStack};
pub use threading::{Admits, Local, Sendable, Threading};

/// Items used by the code the macros generate. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::async_stack::join::{JoinState, Joined};
    pub use crate::decorate::{
        async_scope, async_scope_send, boxed, enter_failed, from_scope, BoxedBody, Convert,
        ConvertFrom, ConvertIo, ConvertUnsupported, ConvertViewError, ConvertViewLocal,
        ConvertViewSendSync, Decorated, DecoratedResult, ErrorView, RunAsyncPlain, RunPlain,
        RunResult, ViewError, ViewLocal, ViewSendSync, ViewUnsupported,
    };
    pub use crate::defer::{Defer, DeferIf};
    pub use crate::managed::{rollback, rollback_panicked, teardown, teardown_in_drop, Running};
    pub use crate::managed_async::{
        poll_wave, release_async, release_drop, release_sync, AsyncTeardown, FieldRelease,
    };
    pub use crate::{
        AsyncExitStack, CleanupOutput, Close, Ending, Exit, ExitStack, Flow, ManagedField,
        RollbackError, UnwindError,
    };
    pub use core;
    pub use std;
}

#[doc(inline)]
pub use exitstack_macros::{defer, managed, stack_callback, with_stack};

/// The README's examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
