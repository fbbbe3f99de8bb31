//! Criterion benchmarks: exitstack against its peers on one workload (register N cleanups, each
//! a closure capturing one reference, then unwind them), plus `enter`, `pop_all` and `defer!`.
//!
//! Run: `cargo bench -p exitstack-benches --bench callbacks` (see BENCHMARKS.md).

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use exitstack_benches as work;

/// Entry counts: a single entry, a typical scope, a big batch, and a stress size.
const SIZES: [usize; 4] = [1, 16, 1_000, 1_000_000];

/// Few samples for the big sizes: one iteration of N = 1M already takes milliseconds.
fn sample_size(n: usize) -> usize {
    if n >= 1_000_000 {
        10
    } else {
        50
    }
}

fn callback_close(c: &mut Criterion) {
    let counter = Cell::new(0);
    let peers: [(&str, work::Workload); 6] = [
        ("fn_pointer_floor", work::fn_pointer_floor),
        ("boxed_dyn_fnonce", work::boxed_callbacks),
        ("boxed_catch_unwind", work::boxed_catch_unwind),
        ("scopeguard_vec", work::scopeguard_vec),
        ("exitstack", work::exitstack_callbacks),
        ("async_stack_sync_entries", work::async_sync_entries),
    ];
    for n in SIZES {
        let mut group = c.benchmark_group("callback_close");
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(sample_size(n));
        for (name, workload) in peers {
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, &n| {
                b.iter(|| workload(black_box(&counter), black_box(n)))
            });
        }
        if n <= 1_000 {
            // The exit-stack crate's buffer is sized at compile time: 1,000 entries here.
            let leaked: &'static Cell<u64> = Box::leak(Box::new(Cell::new(0)));
            let mut stack = Box::pin(work::ExitStackCrate::<1_000>::new());
            group.bench_with_input(BenchmarkId::new("exit_stack_crate", n), &n, |b, &n| {
                b.iter(|| work::exit_stack_crate(stack.as_mut(), black_box(leaked), black_box(n)))
            });
        }
        group.finish();
    }
}

fn enter_close(c: &mut Criterion) {
    let counter = Cell::new(0);
    let mut group = c.benchmark_group("enter_close");
    for n in SIZES {
        group.throughput(Throughput::Elements(n as u64));
        group.sample_size(sample_size(n));
        group.bench_with_input(BenchmarkId::new("exitstack", n), &n, |b, &n| {
            b.iter(|| work::exitstack_enter(black_box(&counter), black_box(n)))
        });
    }
    group.finish();
}

fn pop_all(c: &mut Criterion) {
    let counter = Cell::new(0);
    let mut group = c.benchmark_group("pop_all");
    for n in [1, 1_000_000] {
        group.bench_with_input(BenchmarkId::new("exitstack", n), &n, |b, &n| {
            // The same entries move back and forth: each iteration moves all `n` into a new
            // stack, which replaces the emptied one (dropping an empty stack runs nothing).
            let mut stack = work::filled_stack(&counter, n);
            b.iter(|| {
                let moved = black_box(&mut stack).pop_all();
                stack = moved;
            });
        });
    }
    group.finish();
}

fn defer(c: &mut Criterion) {
    let counter = Cell::new(0);
    let mut group = c.benchmark_group("defer");
    group.bench_function("scopeguard", |b| {
        b.iter(|| work::defer_scopeguard(black_box(&counter)))
    });
    group.bench_function("exitstack", |b| {
        b.iter(|| work::defer_exitstack(black_box(&counter)))
    });
    group.finish();
}

/// A function with two cleanups: two scope guards (the floor: no panic isolation, no errors),
/// `ExitStack::scope`, and a `#[with_stack]` function.
fn two_cleanups(c: &mut Criterion) {
    let counter = Cell::new(0);
    let mut group = c.benchmark_group("two_cleanups");
    group.bench_function("two_scopeguards", |b| {
        b.iter(|| work::two_scopeguards(black_box(&counter)))
    });
    group.bench_function("exitstack_scope", |b| {
        b.iter(|| work::scope_two_callbacks(black_box(&counter)))
    });
    group.bench_function("with_stack", |b| {
        b.iter(|| work::with_stack_two_callbacks(black_box(&counter)))
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = callback_close, enter_close, pop_all, defer, two_cleanups
}
criterion_main!(benches);
