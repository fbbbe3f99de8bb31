//! Peak heap use and allocation count of each peer for one workload of `n` entries (default one
//! million), measured with a counting global allocator.
//!
//! Usage: `peak_mem [n]`. Prints one line per peer: peak bytes, MiB, allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use exitstack_benches as work;

/// The system allocator, counting live bytes, their peak, and allocations.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` with the same arguments; the counters only
// observe.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_sub(layout.size(), Relaxed);
        grew(new_size);
        // SAFETY: forwarded; the caller upholds `realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn grew(size: usize) {
    ALLOCATIONS.fetch_add(1, Relaxed);
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `workload` and returns (peak bytes above what was live before, allocations made).
fn measure(workload: impl FnOnce()) -> (usize, usize) {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    let allocations = ALLOCATIONS.load(Relaxed);
    workload();
    (
        PEAK.load(Relaxed) - before,
        ALLOCATIONS.load(Relaxed) - allocations,
    )
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(1_000_000, |n| n.parse().expect("n is a number"));
    let counter = Cell::new(0);
    let peers: [(&str, work::Workload); 6] = [
        ("floor", work::fn_pointer_floor),
        ("boxed", work::boxed_callbacks),
        ("boxed_catch_unwind", work::boxed_catch_unwind),
        ("scopeguard_vec", work::scopeguard_vec),
        ("exitstack", work::exitstack_callbacks),
        ("exitstack_enter", work::exitstack_enter),
    ];
    println!(
        "{:<20} {:>14} {:>10} {:>12}",
        "peer", "peak bytes", "MiB", "allocations"
    );
    for (name, workload) in peers {
        let (peak, allocations) = measure(|| workload(&counter, n));
        let mib = peak as f64 / (1024.0 * 1024.0);
        println!("{name:<20} {peak:>14} {mib:>10.2} {allocations:>12}");
    }
    assert_eq!(counter.get(), (6 * n) as u64, "every cleanup ran once");
}
