//! Unwinding without recursion (`SEMANTICS.md`, "Exactly once") carried over to the async stack:
//! the async unwind is a loop, so hundreds of thousands of mixed sync and async entries close on a
//! small thread stack, each exactly once, in order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use exitstack::AsyncExitStack;

const ENTRIES: usize = 300_000;

#[test]
fn hundreds_of_thousands_of_entries_close_on_a_256_kib_thread() {
    let worker = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                // Each entry checks it runs right after the one registered after it.
                let next = Arc::new(AtomicUsize::new(ENTRIES));
                let mut stack = AsyncExitStack::new();
                for i in 0..ENTRIES {
                    let next = next.clone();
                    if i % 3 == 0 {
                        stack.callback(move || {
                            assert_eq!(next.fetch_sub(1, Ordering::SeqCst), i + 1);
                        });
                    } else {
                        stack.push_async_callback(move || async move {
                            if i % 1000 == 1 {
                                tokio::task::yield_now().await; // really suspend now and then
                            }
                            assert_eq!(next.fetch_sub(1, Ordering::SeqCst), i + 1);
                        });
                    }
                }
                stack.aclose().await.unwrap();
                assert_eq!(next.load(Ordering::SeqCst), 0);
                assert!(stack.is_empty());
            });
        })
        .unwrap();
    worker.join().unwrap();
}

#[test]
fn a_long_chain_of_async_errors_is_returned_flat() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let errors = runtime.block_on(async {
        let mut stack = AsyncExitStack::new();
        for i in 0..50_000 {
            stack.push_async_callback(move || async move { Err(format!("error {i}")) });
        }
        stack.aclose().await.unwrap_err()
    });
    assert_eq!(errors.len(), 50_000);
    assert_eq!(errors.first().error().to_string(), "error 49999");
    assert_eq!(errors.as_slice()[49_999].error().to_string(), "error 0");
}
