//! Hot-swap slots (issue 14): one entry whose value is replaced, each old value released at
//! once, the last one with the stack, against hostile values too.

use exitstack::report::{self, ReportReason};
use exitstack::{AsyncExitStack, ExitStack, SendExitStack};
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

mod support;
use support::HostileDisplay;

#[test]
fn slot_a_thousand_swaps_use_one_entry_and_release_each_old_value_once_in_order() {
    let swaps = if cfg!(miri) { 100 } else { 1000 };
    let log = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    stack.callback(|| log.borrow_mut().push(u32::MAX)); // registered before the slot
    let mut slot = stack.slot();
    stack.callback(|| log.borrow_mut().push(u32::MAX - 1)); // registered after it
    for n in 0..swaps {
        slot.replace(n, |n| log.borrow_mut().push(n)).unwrap();
        assert_eq!(slot.get(), Some(&n));
    }
    assert_eq!(*log.borrow(), (0..swaps - 1).collect::<Vec<_>>());
    drop(slot);
    stack.close().unwrap();
    // The last value is released in the slot's place: after the later entry, before the earlier.
    let mut expected: Vec<u32> = (0..swaps - 1).collect();
    expected.extend([u32::MAX - 1, swaps - 1, u32::MAX]);
    assert_eq!(*log.borrow(), expected);
}

#[test]
fn slot_value_at_unwind_joins_the_stack_result_with_its_label() {
    let mut stack = ExitStack::new();
    let mut slot = stack.slot().label("session");
    slot.replace("old", |_| Err::<(), _>("old refused"))
        .unwrap();
    let error = slot
        .replace("new", |_| Err::<(), _>("new refused"))
        .unwrap_err();
    assert_eq!(
        (error.label(), error.error().to_string().as_str()),
        (Some("session"), "old refused")
    );
    assert_eq!(error.location(), Some(slot.location()));
    drop(slot);
    let errors = stack.close().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.first().label(), Some("session"));
    assert_eq!(errors.first().error().to_string(), "new refused");
}

#[test]
fn slot_take_and_clear_leave_nothing_to_release() {
    let released = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    let mut slot = stack.slot();
    slot.replace(1, |n| released.borrow_mut().push(n)).unwrap();
    assert_eq!(slot.take(), Some(1)); // taken back: not released
    slot.replace(2, |n| released.borrow_mut().push(n)).unwrap();
    slot.clear().unwrap(); // released now
    assert_eq!(slot.get(), None);
    slot.replace(3, |n| released.borrow_mut().push(n)).unwrap();
    *slot.get_mut().unwrap() += 10;
    drop(slot);
    stack.close().unwrap();
    assert_eq!(*released.borrow(), [2, 13]);
}

#[test]
fn slot_replaced_with_a_teardown_that_panics_keeps_the_new_value() {
    let released = RefCell::new(Vec::new());
    let mut stack = ExitStack::new();
    let mut slot = stack.slot();
    slot.replace(1, |_| panic!("old teardown panics")).unwrap();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        slot.replace(2, |n| released.borrow_mut().push(n))
    }));
    assert_eq!(
        caught.unwrap_err().downcast_ref::<&str>(),
        Some(&"old teardown panics")
    );
    assert_eq!(slot.get(), Some(&2)); // installed before the old one was released
    drop(slot);
    stack.close().unwrap();
    assert_eq!(*released.borrow(), [2]); // released once, with the stack
}

#[test]
fn slot_replaced_from_a_drop_during_a_panic_reports_the_teardown_panic() {
    struct ReplaceOnDrop<'r, 's, 'a>(&'r mut exitstack::Slot<'s, 'a, u32>);
    impl Drop for ReplaceOnDrop<'_, '_, '_> {
        fn drop(&mut self) {
            assert!(self.0.replace(2, |_| ()).is_ok()); // the old teardown's panic is reported
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut stack = ExitStack::new();
    let mut slot = stack.slot();
    slot.replace(1, |_| panic!("old teardown panics")).unwrap();
    report::with_reporter(
        move |r: &report::Report<'_>| sink.lock().unwrap().push(r.reason()),
        || {
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                let _guard = ReplaceOnDrop(&mut slot);
                panic!("the body panics");
            }));
            assert_eq!(
                caught.unwrap_err().downcast_ref::<&str>(),
                Some(&"the body panics")
            );
        },
    );
    assert_eq!(*seen.lock().unwrap(), [ReportReason::PanicDuringPanic]);
    assert_eq!(slot.get(), Some(&2));
    drop(slot);
    stack.close().unwrap();
}

/// Polls a future that finishes without waiting (no runtime, so it can run inside a `Drop`).
fn now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the release does not wait"),
    }
}

#[test]
fn slot_async_replaced_from_a_drop_during_a_panic_reports_the_teardown_panic() {
    struct ReplaceOnDrop<'r, 's, 'a>(&'r mut exitstack::AsyncSlot<'s, 'a, u32>);
    impl Drop for ReplaceOnDrop<'_, '_, '_> {
        fn drop(&mut self) {
            // Awaited during a panic: the old release's panic is reported, not resumed (a second
            // panic here would abort the process).
            assert!(now(self.0.replace(2, |_| async {})).is_ok());
        }
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let mut stack = AsyncExitStack::new();
    let mut slot = stack.async_slot();
    now(slot.replace(1, |_| async { panic!("old async teardown panics") })).unwrap();
    report::with_reporter(
        move |r: &report::Report<'_>| sink.lock().unwrap().push(r.reason()),
        || {
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                let _guard = ReplaceOnDrop(&mut slot);
                panic!("the body panics");
            }));
            assert_eq!(
                caught.unwrap_err().downcast_ref::<&str>(),
                Some(&"the body panics")
            );
        },
    );
    assert_eq!(*seen.lock().unwrap(), [ReportReason::PanicDuringPanic]);
    assert_eq!(slot.get(), Some(&2));
    // Outside a panic, the release's panic goes on to whoever awaits the replace.
    let resumed = panic::catch_unwind(AssertUnwindSafe(|| now(slot.replace(3, |_| async {}))));
    assert!(
        resumed.unwrap().is_ok(),
        "2's release neither panics nor fails"
    );
    now(slot.replace(4, |_| async { panic!("4's release panics") })).unwrap();
    let resumed = panic::catch_unwind(AssertUnwindSafe(|| now(slot.replace(5, |_| async {}))));
    assert_eq!(
        resumed.unwrap_err().downcast_ref::<&str>(),
        Some(&"4's release panics")
    );
    drop(slot);
    now(stack.aclose()).unwrap();
}

#[test]
fn slot_error_whose_display_panics_is_returned_whole() {
    let mut stack = ExitStack::new();
    let mut slot = stack.slot();
    slot.replace((), |()| Err::<(), _>(HostileDisplay)).unwrap();
    let error = slot
        .replace((), |()| Err::<(), _>(HostileDisplay))
        .unwrap_err();
    assert!(error.error().is::<HostileDisplay>());
    assert!(panic::catch_unwind(AssertUnwindSafe(|| error.to_string())).is_err());
    drop(slot);
    let errors = stack.close().unwrap_err();
    assert!(errors.first().error().is::<HostileDisplay>());
}

/// A value whose `Drop` panics, counting its drops.
struct HostileDrop(Arc<AtomicUsize>);
impl Drop for HostileDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("value's Drop panics");
    }
}

#[test]
fn slot_value_whose_drop_panics_is_dropped_once_per_value() {
    let drops = Arc::new(AtomicUsize::new(0));
    let mut stack = ExitStack::new();
    let mut slot = stack.slot();
    slot.replace(HostileDrop(drops.clone()), drop).unwrap();
    let caught = panic::catch_unwind(AssertUnwindSafe(|| {
        slot.replace(HostileDrop(drops.clone()), drop)
    }));
    assert!(caught.is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    drop(slot);
    let caught = panic::catch_unwind(AssertUnwindSafe(|| stack.close()));
    assert!(
        caught.is_err(),
        "the stack's release resumes the value's panic"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn slot_of_a_send_stack_is_used_from_another_thread() {
    let released = Arc::new(Mutex::new(Vec::new()));
    let mut stack = SendExitStack::new_send();
    let mut slot = stack.slot();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for n in 0..3 {
                let log = released.clone();
                slot.replace(n, move |n| log.lock().unwrap().push(n))
                    .unwrap();
            }
        });
    });
    assert_eq!(*released.lock().unwrap(), [0, 1]);
    drop(slot);
    stack.close().unwrap();
    assert_eq!(*released.lock().unwrap(), [0, 1, 2]);
}

#[test]
#[cfg_attr(miri, ignore)] // a tokio runtime
fn slot_async_replace_awaits_each_old_release_in_order() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stack = AsyncExitStack::new();
        let mut slot = stack.async_slot().label("connection");
        for n in 0..100u32 {
            let sink = log.clone();
            let released = slot.replace(n, move |n| async move {
                tokio::task::yield_now().await;
                sink.lock().unwrap().push(n);
                if n == 50 {
                    return Err(format!("closing {n} failed"));
                }
                Ok(())
            });
            let result = released.await;
            assert_eq!(result.is_err(), n == 51, "replacing {n}");
            if let Err(error) = result {
                assert_eq!(error.label(), Some("connection"));
            }
            assert_eq!(log.lock().unwrap().len(), n as usize); // released before it returned
        }
        drop(slot);
        stack.aclose().await.unwrap();
        assert_eq!(*log.lock().unwrap(), (0..100).collect::<Vec<_>>());
    });
}

#[test]
#[cfg_attr(miri, ignore)] // a tokio runtime
fn slot_async_value_is_released_by_aclose_in_its_place() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut stack = AsyncExitStack::new();
        let (first, last) = (log.clone(), log.clone());
        stack.callback(move || first.lock().unwrap().push("registered before"));
        let mut slot = stack.async_slot();
        stack.callback(move || last.lock().unwrap().push("registered after"));
        let teardown_log = log.clone();
        slot.replace("value", move |_| async move {
            teardown_log.lock().unwrap().push("slot");
            Err::<(), _>("slot release failed")
        })
        .await
        .unwrap();
        drop(slot);
        let errors = stack.aclose().await.unwrap_err();
        assert_eq!(errors.first().error().to_string(), "slot release failed");
        let expected = ["registered after", "slot", "registered before"];
        assert_eq!(*log.lock().unwrap(), expected);
    });
}
