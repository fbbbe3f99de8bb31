//! `SendExitStack`s built on one thread, moved through channels to others that add entries,
//! then closed, dropped, or handed on again, all at once on many threads: every entry runs
//! exactly once, in last-in-first-out order, on whichever thread unwinds its stack.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use exitstack::{SendExitStack, UnwindError};

/// Threads on each side, stacks per producer, entries per stack per hop.
fn sizes() -> (usize, usize, usize) {
    if cfg!(miri) {
        (2, 3, 4)
    } else if std::env::var("EXITSTACK_STRESS").as_deref() == Ok("small") {
        (4, 20, 50)
    } else {
        (8, 500, 100)
    }
}

/// One stack's bookkeeping: how many of its entries ran, checked against the LIFO position.
struct Tally {
    ran: AtomicUsize,
    total: usize,
}

impl Tally {
    /// Registers the entries numbered `from..from + count` (of `total`), each checking that it
    /// is the next to run (the highest number runs first).
    fn register(self: &Arc<Self>, stack: &SendExitStack<'static>, from: usize, count: usize) {
        for position in from..from + count {
            let tally = Arc::clone(self);
            stack.callback(move || {
                let order = tally.ran.fetch_add(1, Ordering::SeqCst);
                assert_eq!(order, tally.total - 1 - position, "out of order");
            });
        }
    }
}

#[test]
fn send_stacks_move_between_threads_under_load() {
    let (threads, stacks, entries) = sizes();
    let ran_total = Arc::new(AtomicUsize::new(0));
    let (to_middle, from_producers) = mpsc::channel::<(SendExitStack<'static>, Arc<Tally>)>();
    let from_producers = Arc::new(std::sync::Mutex::new(from_producers));
    let (to_last, from_middle) = mpsc::channel::<(SendExitStack<'static>, Arc<Tally>)>();
    let from_middle = Arc::new(std::sync::Mutex::new(from_middle));

    // Producers: make stacks with the first third of their entries.
    let producers: Vec<_> = (0..threads)
        .map(|_| {
            let to_middle = to_middle.clone();
            let ran_total = Arc::clone(&ran_total);
            thread::spawn(move || {
                for _ in 0..stacks {
                    let tally = Arc::new(Tally {
                        ran: AtomicUsize::new(0),
                        total: 3 * entries,
                    });
                    let stack = SendExitStack::new_send();
                    let counter = Arc::clone(&ran_total);
                    // Registered first, so it runs last: counts the stack as finished.
                    stack.callback(move || {
                        counter.fetch_add(1, Ordering::SeqCst);
                    });
                    tally.register(&stack, 0, entries);
                    to_middle.send((stack, tally)).unwrap();
                }
            })
        })
        .collect();
    drop(to_middle);

    // Middle: add the second third, then pass the stack on (as a moved `pop_all` half).
    let middles: Vec<_> = (0..threads)
        .map(|_| {
            let from_producers = Arc::clone(&from_producers);
            let to_last = to_last.clone();
            thread::spawn(move || loop {
                let next = from_producers.lock().unwrap().recv();
                let Ok((mut stack, tally)) = next else { break };
                tally.register(&stack, entries, entries);
                to_last.send((stack.pop_all(), tally)).unwrap();
                assert!(stack.is_empty());
            })
        })
        .collect();
    drop(to_last);

    // Last: add the final third, then close or drop, alternately.
    let lasts: Vec<_> = (0..threads)
        .map(|_| {
            let from_middle = Arc::clone(&from_middle);
            thread::spawn(move || {
                let mut closed = 0;
                loop {
                    let next = from_middle.lock().unwrap().recv();
                    let Ok((mut stack, tally)) = next else { break };
                    tally.register(&stack, 2 * entries, entries);
                    if closed % 2 == 0 {
                        stack
                            .close()
                            .map_err(|e: UnwindError| e.to_string())
                            .unwrap();
                    } else {
                        drop(stack);
                    }
                    closed += 1;
                    assert_eq!(tally.ran.load(Ordering::SeqCst), tally.total);
                }
            })
        })
        .collect();

    for handle in producers.into_iter().chain(middles).chain(lasts) {
        handle.join().expect("a worker panicked");
    }
    assert_eq!(ran_total.load(Ordering::SeqCst), threads * stacks);
}

#[test]
fn scope_send_runs_on_the_thread_it_was_moved_to() {
    let (threads, stacks, _) = sizes();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            thread::spawn(move || {
                for round in 0..stacks {
                    let here = thread::current().id();
                    let outcome = SendExitStack::scope_send(|stack| {
                        let seen = Arc::new(std::sync::Mutex::new(None));
                        let sink = Arc::clone(&seen);
                        stack
                            .callback(move || *sink.lock().unwrap() = Some(thread::current().id()));
                        let inner = SendExitStack::new_send();
                        let cell = Arc::clone(&seen);
                        inner.callback(move || assert!(cell.lock().unwrap().is_none()));
                        // Move the inner stack to another thread and back before pushing it.
                        let inner = thread::spawn(move || inner).join().unwrap();
                        stack.push_stack(inner);
                        Ok::<_, std::fmt::Error>((round, seen))
                    })
                    .unwrap();
                    let (value, seen) = outcome;
                    assert_eq!(value, round);
                    assert_eq!(*seen.lock().unwrap(), Some(here));
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
}
