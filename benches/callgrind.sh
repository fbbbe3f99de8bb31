#!/usr/bin/env bash
# Instructions per entry (register + unwind) for exitstack and its peers, counted by callgrind:
# repeatable on a noisy machine, unlike wall-clock times.
#
# Usage: benches/callgrind.sh [peer...]   (default: every peer)
# Needs valgrind. Builds the `probe` binary in release mode, then for each peer and each N runs
# `probe <peer> <N> <rounds>` under callgrind, counting only inside `probe_<peer>` (allocator and
# callees included), and prints instructions / (N * rounds).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p exitstack-benches --bin probe
probe="$CARGO_TARGET_DIR/release/probe"

peers=("$@")
if [ ${#peers[@]} -eq 0 ]; then
    peers=(floor boxed boxed_catch_unwind scopeguard_vec exit_stack_crate exitstack exitstack_enter
           async_sync_entry defer_scopeguard defer_exitstack)
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# N and the rounds that make N * rounds large enough to amortize the first allocation.
sizes=("1 100000" "16 10000" "1000 100" "1000000 1")

printf '%-20s %12s %12s %12s %12s\n' "instructions/entry" "N=1" "N=16" "N=1k" "N=1M"
for peer in "${peers[@]}"; do
    row=$(printf '%-20s' "$peer")
    for size in "${sizes[@]}"; do
        read -r n rounds <<<"$size"
        case "$peer" in
            # A fixed buffer of 1,000 entries; a single guard per scope.
            exit_stack_crate) [ "$n" -le 1000 ] || { row+=$(printf ' %12s' "-"); continue; } ;;
        esac
        valgrind --tool=callgrind --callgrind-out-file="$out/cg" --collect-atstart=no \
            --toggle-collect="*::probe_${peer}" "$probe" "$peer" "$n" "$rounds" 2>/dev/null
        total=$(sed -n 's/^summary: //p' "$out/cg")
        row+=$(awk -v t="$total" -v e="$((n * rounds))" 'BEGIN { printf " %12.1f", t / e }')
    done
    echo "$row"
done

# pop_all: instructions per call (not per entry), on stacks of 1 and 1,000,000 entries.
if [ $# -eq 0 ]; then
    echo
    printf '%-20s %12s %12s\n' "pop_all/call" "N=1" "N=1M"
    row=$(printf '%-20s' "exitstack")
    for n in 1 1000000; do
        valgrind --tool=callgrind --callgrind-out-file="$out/cg" --collect-atstart=no \
            --toggle-collect="*::probe_pop_all" "$probe" pop_all "$n" 1000 2>/dev/null
        total=$(sed -n 's/^summary: //p' "$out/cg")
        row+=$(awk -v t="$total" 'BEGIN { printf " %12.1f", t / 1000 }')
    done
    echo "$row"
fi

# A function with two cleanups: instructions per call (register two + unwind), after warm-up.
if [ $# -eq 0 ]; then
    echo
    printf '%-20s %12s\n' "two cleanups/call" "per call"
    for peer in two_scopeguards scope_two with_stack_two; do
        valgrind --tool=callgrind --callgrind-out-file="$out/cg" --collect-atstart=no \
            --toggle-collect="*::probe_${peer}" "$probe" "$peer" 100000 1 2>/dev/null
        total=$(sed -n 's/^summary: //p' "$out/cg")
        printf '%-20s %12.1f\n' "$peer" "$(awk -v t="$total" 'BEGIN { print t / 100000 }')"
    done
fi
