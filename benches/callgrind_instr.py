#!/usr/bin/env python3
"""Instruction-level counts of one probe function, from a callgrind run with --dump-instr=yes:
where each instruction of the hot path goes, next to its disassembly.

Usage:
    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file=cg.out \\
        --collect-atstart=no --toggle-collect='*::probe_scope_two' \\
        target/release/probe scope_two 100000 1
    python3 benches/callgrind_instr.py cg.out probe_scope_two target/release/probe 100000

Prints the total per call (the last argument: how many calls the run made) and every
instruction executed at least half a time per call, with `objdump -d` beside it. Only the
function's own instructions count (callees are separate functions in callgrind's output).
"""

import collections
import re
import subprocess
import sys


def step(token, previous):
    """Callgrind compresses positions: absolute (0x..), relative (+n / -n) or the same (*)."""
    if token.startswith("0x"):
        return int(token, 16)
    if token.startswith("+"):
        return previous + int(token[1:])
    if token.startswith("-"):
        return previous - int(token[1:])
    return previous


def counts_of(path, function):
    names, counts = {}, collections.Counter()
    current, address, after_call = None, 0, False
    for line in open(path):
        line = line.rstrip("\n")
        called = re.match(r"^cfn=\((\d+)\) (.*)$", line)
        if called:
            names[called.group(1)] = called.group(2)
        entered = re.match(r"^fn=\((\d+)\)(?: (.*))?$", line)
        if entered:
            if entered.group(2):
                names[entered.group(1)] = entered.group(2)
            current = names.get(entered.group(1))
            continue
        if line.startswith("calls="):
            after_call = True  # the next cost line is the callee's inclusive cost
            continue
        cost = re.match(r"^(0x[0-9a-f]+|\+\d+|-\d+|\*)\s+(\S+)\s+(\d+)", line)
        if cost:
            address = step(cost.group(1), address)
            if after_call:
                after_call = False
                continue
            if current and function in current:
                counts[address] += int(cost.group(3))
    return counts


def main():
    path, function, binary, calls = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    counts = counts_of(path, function)
    print(f"total per call: {sum(counts.values()) / calls:.1f}")
    disassembly = subprocess.run(
        ["objdump", "-d", "-C", "--no-show-raw-insn", binary], capture_output=True, text=True
    ).stdout
    text = {}
    for line in disassembly.split("\n"):
        parsed = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", line)
        if parsed:
            text[int(parsed.group(1), 16)] = parsed.group(2)
    for address in sorted(counts):
        per_call = counts[address] / calls
        if per_call >= 0.5:
            print(f"{address:#x} {per_call:5.1f} {text.get(address, '?')}")


if __name__ == "__main__":
    main()
