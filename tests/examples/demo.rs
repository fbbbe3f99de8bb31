//! The exitstack demo: `cargo run -p exitstack-tests --example demo`.
//!
//! Sets up two temp dirs and a loopback HTTP server, downloads two artifacts, keeps the one
//! whose checksum verifies and removes the other's files, then tears everything down, and
//! prints what was released, in what order, and every error with its label and registration
//! site. The logic lives in `exitstack_tests::demo` so that `tests/demo.rs` can check it; this
//! program adds the story around it and checks, as the test does, that nothing was left over.

use std::net::TcpListener;
use std::process::ExitCode;

const STORY: &str = "\
exitstack demo: fetch and verify artifacts from a loopback HTTP server

What happens:
  - set-up creates a work dir and a cache dir, starts an HTTP server thread on 127.0.0.1:0
    and health-checks it; everything set-up made moves to a tear-down stack (pop_all)
  - the work runs in ExitStack::scope: a timer (exit handler), a manifest file, a
    'discard manifest' error-only cleanup and an 'upload audit log' cleanup
  - release.tar verifies: the removal registered for its files is cancelled
  - injected failure 1: the server publishes a wrong checksum for nightly.tar, so its files
    are removed and the scope fails part-way
  - injected failure 2: the server's audit endpoint answers 503, so the 'upload audit log'
    cleanup fails (returned with the scope's error) and the 'report failed fetch' handler of
    a stack dropped by `?` fails too (sent to the report channel)
";

fn main() -> ExitCode {
    println!("{STORY}");
    let run = match exitstack_tests::demo::run(&mut std::io::stdout()) {
        Ok(run) => run,
        Err(error) => {
            eprintln!("demo failed before its work began: {error}");
            return ExitCode::FAILURE;
        }
    };
    let left: Vec<_> = [&run.work_dir, &run.cache_dir]
        .into_iter()
        .filter(|dir| dir.exists())
        .collect();
    let port_free = TcpListener::bind(("127.0.0.1", run.port)).is_ok();
    println!("check: directories left on disk: {left:?}");
    println!("check: port {} free again: {port_free}", run.port);
    if left.is_empty() && port_free {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
