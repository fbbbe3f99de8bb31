//! A `SendExitStack` is `Sync`: several threads register on one `&stack` at once (filling the
//! inline words and then chunks, growing the chunk list), cancel and release handles, move
//! values and handles between threads, and read `is_empty`; then the stack is closed. Every
//! cleanup runs (or, cancelled, is dropped) exactly once, and each thread's entries unwind in
//! its own LIFO order. Run under Miri, which checks the threads for data races and the
//! pointers into the arena for aliasing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;

use exitstack::{Entered, Handle, SendExitStack, Sendable};

const THREADS: usize = 4;
/// Entries per thread: enough to pass the inline words and fill several chunks.
const PER_THREAD: usize = if cfg!(miri) { 48 } else { 2_000 };

/// What happened to entry `(thread, index)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Event {
    /// Run by `close`.
    Closed(usize, usize),
    /// Run now through its handle.
    Released(usize, usize),
}

/// Counts drops of the closures and values the stack held, so a double drop or a leak shows.
struct Token<'c>(&'c AtomicUsize);

impl Drop for Token<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A value owned by the stack: logs when the stack drops it, and checks it was not torn.
struct Owned<'l> {
    thread: usize,
    index: usize,
    check: usize,
    closed: &'l Mutex<Vec<Event>>,
}

impl Drop for Owned<'_> {
    fn drop(&mut self) {
        assert_eq!(
            self.check,
            self.thread * 1_000_000 + self.index,
            "value was torn"
        );
        let event = Event::Closed(self.thread, self.index);
        self.closed.lock().unwrap().push(event);
    }
}

/// How entry `index` of a thread is treated.
fn role(index: usize) -> &'static str {
    match index % 6 {
        1 => "cancel now",
        2 => "release later, on this thread",
        3 => "release on the main thread",
        4 => "owned value",
        _ => "close",
    }
}

#[test]
fn threads_register_cancel_and_release_on_one_shared_stack() {
    let events = Mutex::new(Vec::new());
    let drops = AtomicUsize::new(0);
    let mut stack = SendExitStack::new_send();
    let (events, drops) = (&events, &drops);
    let mut registered = 0;

    let handed_over: Vec<Handle<'_, Sendable>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let stack = &stack;
                scope.spawn(move || {
                    let mut later = Vec::new();
                    let mut to_main = Vec::new();
                    let mut values: Vec<Entered<'_, Owned<'_>, Sendable>> = Vec::new();
                    for index in 0..PER_THREAD {
                        if role(index) == "owned value" {
                            let mut value = stack.enter(Owned {
                                thread,
                                index,
                                check: 0,
                                closed: events,
                            });
                            value.check = thread * 1_000_000 + index; // written in place
                            values.push(value);
                            continue;
                        }
                        let token = Token(drops);
                        let handle = stack
                            .callback(move || {
                                let _token = token;
                                let event = match role(index) {
                                    "close" => Event::Closed(thread, index),
                                    _ => Event::Released(thread, index),
                                };
                                events.lock().unwrap().push(event);
                            })
                            .label(format!("{thread}/{index}"));
                        match role(index) {
                            "cancel now" => handle.cancel(),
                            "release later, on this thread" => later.push(handle),
                            "release on the main thread" => to_main.push(handle),
                            _ => {}
                        }
                        assert!(!stack.is_empty());
                        if index % 8 == 0 {
                            thread::yield_now();
                        }
                    }
                    for handle in later.drain(..).rev() {
                        handle.release().unwrap();
                    }
                    // Values stay in place while other threads push: read them back.
                    for value in &values {
                        assert_eq!(value.check, value.thread * 1_000_000 + value.index);
                    }
                    to_main
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap())
            .collect()
    });
    for handle in handed_over {
        assert!(handle.location().file().ends_with("engine_threads.rs"));
        handle.release().unwrap();
    }
    let released = events.lock().unwrap().len();
    stack.close().unwrap();
    assert!(stack.is_empty());

    // Every entry accounted for exactly once: cancelled ones only dropped.
    let events = events.lock().unwrap();
    for thread in 0..THREADS {
        for index in 0..PER_THREAD {
            let ran = events
                .iter()
                .filter(|event| {
                    matches!(event, Event::Closed(t, i) | Event::Released(t, i)
                        if (*t, *i) == (thread, index))
                })
                .count();
            let expected = usize::from(role(index) != "cancel now");
            assert_eq!(
                ran,
                expected,
                "entry {thread}/{index} ({}) ran {ran} times",
                role(index)
            );
            registered += 1;
        }
    }
    let closures = (0..PER_THREAD)
        .filter(|&i| role(i) != "owned value")
        .count();
    assert_eq!(drops.load(Ordering::SeqCst), THREADS * closures);
    assert_eq!(registered, THREADS * PER_THREAD);

    // `close` ran each thread's entries newest first, whatever the interleaving.
    for thread in 0..THREADS {
        let order: Vec<usize> = events[released..]
            .iter()
            .filter_map(|event| match *event {
                Event::Closed(t, i) if t == thread => Some(i),
                _ => None,
            })
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] > w[1]),
            "thread {thread}: {order:?}"
        );
        let closed = (0..PER_THREAD)
            .filter(|&i| matches!(role(i), "close" | "owned value"))
            .count();
        assert_eq!(order.len(), closed, "thread {thread}");
    }
}

#[test]
fn a_handle_and_a_value_move_to_another_thread() {
    let log = Mutex::new(Vec::new());
    let mut stack = SendExitStack::new_send();
    let handle = stack.callback(|| log.lock().unwrap().push("released elsewhere"));
    let mut value = stack.guard(vec![1], |v| {
        log.lock()
            .unwrap()
            .push(if v == [1, 2] { "value" } else { "torn" })
    });
    thread::scope(|scope| {
        scope.spawn(|| handle.release().unwrap());
        scope.spawn(|| {
            value.push(2);
            assert!(!stack.is_empty());
        });
    });
    stack.close().unwrap();
    assert_eq!(*log.lock().unwrap(), ["released elsewhere", "value"]);
}
