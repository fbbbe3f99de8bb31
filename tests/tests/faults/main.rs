//! Fault injection: every acquisition step in turn fails or panics, and every release step in
//! turn fails or panics, on a realistic set-up, on three patterns, on an async pool, on a
//! concurrent group with two-phase entries (`concurrent.rs`, also cutting the close at every
//! await point) and on the demo; nothing may be left behind and every fault must be reported exactly once. One test
//! binary.
//!
//! The demo's test checks this whole process (its open descriptors, its threads), so it runs
//! alone: it holds [`support::alone`] while every other test holds [`support::beside_others`].
//!
//! Not under Miri: real sockets, threads, SQLite (C) and `/proc/self`.
#![cfg(not(miri))]

mod async_pool;
mod concurrent;
mod demo;
mod managed_service;
mod patterns;
mod setup;
mod support;
