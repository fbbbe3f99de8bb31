#!/usr/bin/env python3
"""CPython's contextlib.ExitStack on the workload of the Rust benchmarks.

Register N callbacks, each capturing one reference (a small mutable cell), then close the
stack, which calls them newest first. Timed with `timeit`: the best of several repeats, per
entry. Prints a table, and with `--json PATH` writes {"N": ns_per_entry, ...} for
`benches/report/summarize.py`.

Usage: python3 benches/python/bench_exitstack.py [--json PATH] [--sizes 1,16,1000,1000000]
"""

import argparse
import json
import platform
import sys
import timeit
from contextlib import ExitStack


class Cell:
    """The one captured reference: a counter, like the Rust side's `&Cell<u64>`."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


def bump(cell):
    cell.value += 1


def workload(cell, n):
    """Register n callbacks capturing `cell`, then unwind them (newest first)."""
    stack = ExitStack()
    for _ in range(n):
        stack.callback(bump, cell)
    stack.close()


def measure(n, budget_seconds=0.3, repeats=5):
    """Best time per entry, in nanoseconds, of `workload(cell, n)`."""
    cell = Cell()
    timer = timeit.Timer(lambda: workload(cell, n))
    if n >= 1_000_000:
        loops, repeats = 1, 3  # one run takes seconds already
    else:
        loops, _ = timer.autorange()  # enough loops for at least 0.2 s
        loops = max(1, int(loops * budget_seconds / 0.2))
    best = min(timer.repeat(repeat=repeats, number=loops))
    assert cell.value >= n * loops * repeats, "every callback ran"
    return best / loops / n * 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the results here as JSON")
    parser.add_argument("--sizes", default="1,16,1000,1000000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"CPython {platform.python_version()} contextlib.ExitStack, callback + close")
    print(f"{'N':>10} {'ns/entry':>12}")
    results = {}
    for n in sizes:
        ns = measure(n)
        results[str(n)] = ns
        print(f"{n:>10} {ns:>12.1f}")
        sys.stdout.flush()
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"python": platform.python_version(), "ns_per_entry": results}, out)


if __name__ == "__main__":
    main()
