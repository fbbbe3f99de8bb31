//! The exitstack demo: `cargo run -p exitstack-tests --example demo`.
//!
//! Sets up two temp dirs and a loopback HTTP server, downloads two artifacts, keeps the one
//! whose checksum verifies and removes the other's files, then tears everything down, and
//! prints what was released, in what order, and every error with its label and registration
//! site. The logic lives in `exitstack_tests::demo` so that `tests/demo.rs` can check it.

use std::process::ExitCode;

fn main() -> ExitCode {
    println!("exitstack demo: fetch and verify artifacts from a loopback HTTP server");
    match exitstack_tests::demo::run(&mut std::io::stdout()) {
        Ok(run) => {
            let left = [&run.work_dir, &run.cache_dir]
                .into_iter()
                .filter(|dir| dir.exists())
                .count();
            println!("directories left on disk: {left}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("demo failed before its work began: {error}");
            ExitCode::FAILURE
        }
    }
}
