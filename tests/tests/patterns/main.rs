//! The patterns users come with, each on real resources (files, directories, sockets, SQLite,
//! threads), and the demo. One test binary; changing the working directory is process-global,
//! so that pattern is the `change_directory` binary.
//!
//! Not under Miri: Miri cannot open sockets, call C (SQLite) or copy files
//! (`copy_file_range`); these tests exercise the OS, not this crate's unsafe code.

mod acquire_validate;
mod all_or_nothing;
mod async_pool;
mod cancel_cleanup;
mod connection;
mod decorator;
mod demo;
#[path = "../shared/echo.rs"]
mod echo;
mod fixture;
mod fixture_managed;
mod huge_numbers;
mod null_context;
mod selective;
mod temp_dirs;
mod timed;
mod transaction;
mod unconditional;
mod verify;
