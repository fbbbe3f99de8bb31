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
mod exit;
mod handle;
mod managed;
mod pending;
pub mod report;
mod scope;
mod site;
mod stack;
mod threading;
mod unwind;

pub use async_stack::{
    Aclose, AsyncContext, AsyncEntered, AsyncExitStack, AsyncHandle, NotRunError,
    SendAsyncExitStack, SendScopeFuture, TimedOutError,
};
pub use context::{Close, Context};
pub use ending::{Ending, Flow};
pub use error::{BoxError, CleanupError, PanicError, UnwindError};
pub use exit::Exit;
pub use handle::{Entered, Handle};
pub use managed::{ManagedField, RollbackError};
pub use scope::{Outcome, ScopeError, ScopeResult};
pub use stack::{ExitStack, SendExitStack};
pub use threading::{Admits, Local, Sendable, Threading};

/// Items used by the code the macros generate. Not public API: may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::decorate::{
        async_scope, async_scope_send, boxed, enter_failed, from_scope, BoxedBody, Convert,
        ConvertFrom, ConvertIo, ConvertUnsupported, ConvertViewError, ConvertViewLocal,
        ConvertViewSendSync, Decorated, DecoratedResult, ErrorView, RunAsyncPlain, RunPlain,
        RunResult, ViewError, ViewLocal, ViewSendSync, ViewUnsupported,
    };
    pub use crate::defer::{Defer, DeferIf};
    pub use crate::managed::{
        rollback, rollback_panicked, teardown, teardown_in_drop, CloserOutput, Running,
    };
    pub use crate::{
        AsyncExitStack, Close, Ending, Exit, ExitStack, Flow, ManagedField, RollbackError,
        UnwindError,
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
