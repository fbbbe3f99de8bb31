//! The async stack's storage paths through the shared engine: bodies too large for inline
//! storage (boxed), value entries lent out, taken back and released now, and their order with
//! sync entries. Small enough for Miri, which checks the unsafe casts of `start_future`.

use std::cell::RefCell;

use exitstack::AsyncExitStack;

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

#[test]
fn large_async_bodies_are_boxed_and_run_once_in_order() {
    let log = RefCell::new(Vec::new());
    let big = [3u64; 32]; // 256 bytes: more than fits inline
    block_on(async {
        let mut stack = AsyncExitStack::new();
        stack.push_async_callback(|| async {
            log.borrow_mut().push(big.iter().sum::<u64>());
        });
        stack.callback(|| log.borrow_mut().push(1));
        stack.push_async_callback(move || async move {
            Err::<(), _>(format!("large body failed ({} words)", big.len()))
        });
        let errors = stack.aclose().await.unwrap_err();
        assert_eq!(
            errors.first().error().to_string(),
            "large body failed (32 words)"
        );
    });
    assert_eq!(*log.borrow(), [1, 96]);
}

#[test]
fn large_async_values_are_lent_out_taken_back_and_released_now() {
    let released = RefCell::new(Vec::new());
    let released = &released;
    block_on(async {
        let mut stack = AsyncExitStack::new();
        let mut kept = stack.async_guard([0u64; 16], |_| async { unreachable!("taken back") });
        kept[15] = 7;
        assert_eq!(kept.cancel()[15], 7);
        let mut now = stack.async_guard([1u64; 16], |value| async move {
            released
                .borrow_mut()
                .push(("now", value.iter().sum::<u64>()));
        });
        now[0] = 10;
        now.release().await.unwrap();
        stack.async_guard([2u64; 16], |value| async move {
            released
                .borrow_mut()
                .push(("at close", value.iter().sum::<u64>()));
        });
        stack.aclose().await.unwrap();
    });
    assert_eq!(*released.borrow(), [("now", 25), ("at close", 32)]);
}
