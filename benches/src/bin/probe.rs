//! A small binary for `callgrind.sh`: runs one peer's workload `rounds` times with `n` entries,
//! inside a function named `probe_<peer>`, so callgrind can count only that function (and what
//! it calls, allocator included) with `--toggle-collect`.
//!
//! Usage: `probe <peer> <n> <rounds>`, peer one of: floor, boxed, boxed_catch_unwind,
//! scopeguard_vec, exitstack, exitstack_enter, exit_stack_crate, defer_scopeguard,
//! defer_exitstack, async_sync_entry, two_scopeguards, scope_two, with_stack_two (these three
//! count one call, not one entry, per unit of `n`),
//! pop_all (counts one `pop_all` per round, on a stack of `n` entries).

use std::cell::Cell;
use std::hint::black_box;

use exitstack_benches as work;

macro_rules! probes {
    ($($name:ident => $body:expr;)*) => {
        $(
            #[inline(never)]
            fn $name(counter: &Cell<u64>, n: usize, rounds: usize) {
                let body: fn(&Cell<u64>, usize) = $body;
                for _ in 0..rounds {
                    body(black_box(counter), black_box(n));
                }
            }
        )*
    };
}

probes! {
    probe_floor => work::fn_pointer_floor;
    probe_boxed => work::boxed_callbacks;
    probe_boxed_catch_unwind => work::boxed_catch_unwind;
    probe_scopeguard_vec => work::scopeguard_vec;
    probe_exitstack => work::exitstack_callbacks;
    probe_exitstack_enter => work::exitstack_enter;
    probe_defer_scopeguard => |counter, n| for _ in 0..n { work::defer_scopeguard(counter) };
    probe_defer_exitstack => |counter, n| for _ in 0..n { work::defer_exitstack(counter) };
    probe_async_sync_entry => work::async_sync_entries;
    probe_two_scopeguards => |counter, n| for _ in 0..n { work::two_scopeguards(counter) };
    probe_scope_two => |counter, n| for _ in 0..n { work::scope_two_callbacks(counter) };
    probe_with_stack_two => |counter, n| for _ in 0..n {
        work::with_stack_two_callbacks(counter).unwrap();
    };
}

/// `pop_all` alone, `rounds` times, on a stack of `n` entries filled beforehand.
#[inline(never)]
fn probe_pop_all(stack: &mut exitstack::ExitStack<'_>, rounds: usize) {
    for _ in 0..rounds {
        let moved = black_box(&mut *stack).pop_all();
        *stack = moved;
    }
}

/// The `exit-stack` crate needs a `'static` counter and a buffer sized at compile time.
#[inline(never)]
fn probe_exit_stack_crate(n: usize, rounds: usize) {
    let counter: &'static Cell<u64> = Box::leak(Box::new(Cell::new(0)));
    let mut stack = Box::pin(work::ExitStackCrate::<1000>::new());
    for _ in 0..rounds {
        work::exit_stack_crate(stack.as_mut(), black_box(counter), black_box(n));
    }
    assert_eq!(counter.get(), (n * rounds) as u64);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, peer, n, rounds] = &args[..] else {
        eprintln!("usage: probe <peer> <n> <rounds>");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("n is a number");
    let rounds: usize = rounds.parse().expect("rounds is a number");
    let counter = Cell::new(0);
    // Cleanups each unit of `n` runs: one per entry, two per call of a two-cleanup function.
    let mut per_unit = 1;
    match peer.as_str() {
        "two_scopeguards" | "scope_two" | "with_stack_two" => {
            per_unit = 2;
            match peer.as_str() {
                "two_scopeguards" => probe_two_scopeguards(&counter, n, rounds),
                "scope_two" => probe_scope_two(&counter, n, rounds),
                _ => probe_with_stack_two(&counter, n, rounds),
            }
        }
        "floor" => probe_floor(&counter, n, rounds),
        "boxed" => probe_boxed(&counter, n, rounds),
        "boxed_catch_unwind" => probe_boxed_catch_unwind(&counter, n, rounds),
        "scopeguard_vec" => probe_scopeguard_vec(&counter, n, rounds),
        "exitstack" => probe_exitstack(&counter, n, rounds),
        "exitstack_enter" => probe_exitstack_enter(&counter, n, rounds),
        "defer_scopeguard" => probe_defer_scopeguard(&counter, n, rounds),
        "defer_exitstack" => probe_defer_exitstack(&counter, n, rounds),
        "async_sync_entry" => probe_async_sync_entry(&counter, n, rounds),
        "pop_all" => {
            let mut stack = work::filled_stack(&counter, n);
            probe_pop_all(&mut stack, rounds);
            stack.close().expect("the callbacks cannot fail");
            assert_eq!(counter.get(), n as u64, "every cleanup ran once");
            return;
        }
        "exit_stack_crate" => return probe_exit_stack_crate(n, rounds),
        other => {
            eprintln!("unknown peer {other}");
            std::process::exit(2);
        }
    }
    assert_eq!(
        counter.get(),
        (per_unit * n * rounds) as u64,
        "every cleanup ran once"
    );
}
