//! The wall time of closing a concurrent group on the real clock: three branches of two async
//! cleanups that each sleep 100 ms, closed together, then with a limit of 1 (one branch at a
//! time), then as a plain stack of the same six entries. The figures in BENCHMARKS.md come from
//! `cargo run --release -p exitstack --example concurrent_release`.

use std::time::{Duration, Instant};

use exitstack::{AsyncExitStack, ConcurrentGroup};

const BRANCHES: usize = 3;
const ENTRIES: usize = 2;
const SLEEP: Duration = Duration::from_millis(100);

fn branches() -> Vec<AsyncExitStack<'static>> {
    (0..BRANCHES)
        .map(|_| {
            let branch = AsyncExitStack::new();
            for _ in 0..ENTRIES {
                branch.push_async_callback(|| tokio::time::sleep(SLEEP));
            }
            branch
        })
        .collect()
}

async fn timed(mut stack: AsyncExitStack<'static>) -> Duration {
    let started = Instant::now();
    stack.aclose().await.expect("no cleanup fails");
    started.elapsed()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let concurrent = AsyncExitStack::new();
        concurrent.push_concurrent(branches());
        let concurrent = timed(concurrent).await;

        let limited = AsyncExitStack::new();
        limited.push_concurrent(ConcurrentGroup::from(branches()).limit(1));
        let limited = timed(limited).await;

        let plain = AsyncExitStack::new();
        for branch in branches() {
            plain.push_async_stack(branch);
        }
        let plain = timed(plain).await;

        println!("{BRANCHES} branches x {ENTRIES} entries x {SLEEP:?}, real clock:");
        println!("  concurrent group:          {concurrent:?}");
        println!("  concurrent group, limit 1: {limited:?}");
        println!("  plain LIFO stack:          {plain:?}");
    });
}
