#!/usr/bin/env python3
"""Turns one run of the benchmarks into the tables of BENCHMARKS.md and a plot.

Reads criterion's estimates (`$CARGO_TARGET_DIR/criterion`), the Python results written by
`benches/python/bench_exitstack.py --json`, and optionally the output of `benches/callgrind.sh`;
prints Markdown tables (time per entry, ratios against the targets) and renders
`benches/report/callback_close.png` (needs matplotlib).

Usage: python3 benches/report/summarize.py CRITERION_DIR PYTHON_JSON [CALLGRIND_TXT]
"""

import json
import os
import sys

SIZES = [1, 16, 1000, 1000000]
PEERS = [
    ("fn_pointer_floor", "Vec<(fn, &T)> (floor)"),
    ("boxed_dyn_fnonce", "Vec<Box<dyn FnOnce()>>"),
    ("boxed_catch_unwind", "Vec<Box<dyn FnOnce()>> + catch_unwind"),
    ("scopeguard_vec", "Vec<scopeguard::ScopeGuard>"),
    ("exit_stack_crate", "exit-stack 0.1 (fixed buffer)"),
    ("exitstack", "exitstack callback + close"),
    ("async_stack_sync_entries", "exitstack AsyncExitStack, sync entries"),
]


def estimate(criterion, *path):
    """Median time in ns of one benchmark iteration, or None if it was not run."""
    file = os.path.join(criterion, *path, "new", "estimates.json")
    if not os.path.exists(file):
        return None
    with open(file) as data:
        return json.load(data)["median"]["point_estimate"]


def per_entry(criterion, group, peer, n):
    total = estimate(criterion, group, peer, str(n))
    return None if total is None else total / n


def fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def label(n):
    return {1: "1", 16: "16", 1000: "1k", 1000000: "1M"}[n]


def main():
    criterion, python_json = sys.argv[1], sys.argv[2]
    with open(python_json) as data:
        python = {int(n): ns for n, ns in json.load(data)["ns_per_entry"].items()}

    times = {peer: {n: per_entry(criterion, "callback_close", peer, n) for n in SIZES}
             for peer, _ in PEERS}
    times["python"] = python

    print("### Time per entry (ns), callback + unwind, median of one criterion run\n")
    print("| peer | " + " | ".join(f"N={label(n)}" for n in SIZES) + " |")
    print("|---|" + "---:|" * len(SIZES))
    for peer, name in PEERS:
        print(f"| {name} | " + " | ".join(fmt(times[peer][n]) for n in SIZES) + " |")
    print("| CPython 3.11 contextlib.ExitStack (timeit) | "
          + " | ".join(fmt(python.get(n), 0) for n in SIZES) + " |")

    print("\n### Ratios (exitstack time / peer time; lower is better)\n")
    print("| ratio | target | " + " | ".join(f"N={label(n)}" for n in SIZES) + " |")
    print("|---|---|" + "---:|" * len(SIZES))
    ours = times["exitstack"]
    rows = [
        ("exitstack / Box<dyn FnOnce>", "<= 0.4", "boxed_dyn_fnonce"),
        ("exitstack / Box<dyn FnOnce> + catch_unwind", "-", "boxed_catch_unwind"),
        ("exitstack / fn-pointer floor", "<= 3", "fn_pointer_floor"),
        ("async (sync entries) / sync", "~1", None),
    ]
    for title, target, peer in rows:
        cells = []
        for n in SIZES:
            if peer is None:
                a, b = times["async_stack_sync_entries"][n], ours[n]
            else:
                a, b = ours[n], times[peer][n]
            cells.append(fmt(a / b) if a and b else "-")
        print(f"| {title} | {target} | " + " | ".join(cells) + " |")
    speedups = [fmt(python[n] / ours[n], 0) if ours[n] and n in python else "-" for n in SIZES]
    print("| CPython ExitStack / exitstack (speed-up) | >= 100 | " + " | ".join(speedups) + " |")

    pop = {n: estimate(criterion, "pop_all", "exitstack", str(n)) for n in (1, 1000000)}
    if all(pop.values()):
        print(f"\n`pop_all`: {pop[1]:.1f} ns with 1 entry, {pop[1000000]:.1f} ns with 1,000,000 "
              f"entries (ratio {pop[1000000] / pop[1]:.2f}; target <= 2).")
    defer = {peer: estimate(criterion, "defer", peer) for peer in ("scopeguard", "exitstack")}
    if all(defer.values()):
        print(f"\nBare guard: scopeguard `defer!` {defer['scopeguard']:.2f} ns, "
              f"exitstack `defer!` {defer['exitstack']:.2f} ns.")
    enter = [per_entry(criterion, "enter_close", "exitstack", n) for n in SIZES]
    two = {peer: estimate(criterion, "two_cleanups", peer)
           for peer in ("two_scopeguards", "exitstack_scope", "with_stack")}
    if all(value is not None for value in two.values()):
        print("\nA function with two cleanups (ns per call): two scope guards "
              f"{two['two_scopeguards']:.2f}, `ExitStack::scope` {two['exitstack_scope']:.2f}, "
              f"`#[with_stack]` {two['with_stack']:.2f}.")
    print("\n`enter` + close of a three-word value (ns/entry): "
          + ", ".join(f"N={label(n)}: {fmt(t)}" for n, t in zip(SIZES, enter)))

    if len(sys.argv) > 3:
        with open(sys.argv[3]) as data:
            print("\n### callgrind (instructions per entry)\n\n```\n" + data.read().rstrip()
                  + "\n```")

    plot(times)


def plot(times):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib not installed: no plot)", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(10, 5))
    for peer, name in PEERS + [("python", "CPython contextlib.ExitStack")]:
        points = [(n, t) for n, t in sorted(times[peer].items()) if t]
        if points:
            style = "--" if peer == "python" else ("-o" if peer.startswith("exitstack") else "-.")
            width = 2.5 if peer == "exitstack" else 1.2
            ax.plot(*zip(*points), style, label=name, linewidth=width, markersize=4)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("entries per stack (N)")
    ax.set_ylabel("ns per entry (register + unwind)")
    ax.set_title("Cleanup stacks: cost per entry (lower is better)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_close.png")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"\nplot written to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
