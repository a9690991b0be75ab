#!/usr/bin/env bash
# Instruction counts of Tessera's hot paths under valgrind's callgrind: ingest of one
# 512x512 16-bit CT instance, one QIDO, one frame. Each runs in-process
# (`tessera-bench --callgrind-op OP --callgrind-repeat N`, no sockets) twice, with 0 and N
# repetitions after the same setup; (Ir(N) - Ir(0)) / N is the cost of one operation.
# Instruction counts do not depend on the machine's load, so they show a slower hot path
# where wall-clock benchmarks on a shared machine cannot. They are not exactly repeatable
# (the setup's count varies by 1-2% between runs of one binary: thread scheduling in the
# runtime and the group commit), so each count is the median of RUNS runs (default 3).
#   scripts/bench/callgrind.sh           measure and rewrite scripts/bench/callgrind.tsv
#   scripts/bench/callgrind.sh --check   measure and compare with scripts/bench/callgrind.tsv;
#                                        exit 1 if an operation costs more than TOLERANCE
#                                        percent (default 5) more (or less: then the table
#                                        is stale) than recorded
# Not part of scripts/test.sh: it takes about ten minutes (valgrind is ~50x slower).
set -euo pipefail
cd "$(dirname "$0")/../.."
MODE="${1:-record}"
TABLE=scripts/bench/callgrind.tsv
TOLERANCE="${TOLERANCE:-5}"
RUNS="${RUNS:-3}"
command -v valgrind >/dev/null || {
    echo "valgrind is missing: apt-get install -y valgrind" >&2
    exit 1
}
# TESSERA_BENCH_BIN: a tessera-bench built from this checkout already (skips the build).
[ -n "${TESSERA_BENCH_BIN:-}" ] || cargo build --release --quiet -p tessera-bench
work="$(mktemp -d /tmp/tessera-callgrind.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# A private copy: the target folder may be shared with other checkouts' builds.
BIN="$work/tessera-bench"
cp "${TESSERA_BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera-bench}" "$BIN"
"$BIN" --help | grep -q -- --callgrind-op || {
    echo "$BIN is not this checkout's build (no --callgrind-op); run again" >&2
    exit 1
}

# Total instructions (Ir) of one run of `op` with `repeat` repetitions.
count_once() {
    local op="$1" repeat="$2" out="$work/$1-$2.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" \
        "$BIN" --callgrind-op "$op" --callgrind-repeat "$repeat" >"$work/$1-$2.log" 2>&1 || {
        cat "$work/$1-$2.log" >&2
        return 1
    }
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

# The median of RUNS counts.
count() {
    local runs=()
    for _ in $(seq 1 "$RUNS"); do runs+=("$(count_once "$1" "$2")"); done
    printf '%s\n' "${runs[@]}" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'
}

declare -A repeats=([ingest]=10 [qido]=500 [frame]=200)
measured="$work/measured.tsv"
printf 'operation\tinstructions\trepeat\n' >"$measured"
for op in ingest qido frame; do
    n="${repeats[$op]}"
    base="$(count "$op" 0)"
    total="$(count "$op" "$n")"
    per=$(((total - base) / n))
    printf '%s\t%s\t%s\n' "$op" "$per" "$n" >>"$measured"
    echo "$op: $per instructions per operation (setup $base, with $n: $total)"
done

if [ "$MODE" = "--check" ]; then
    [ -f "$TABLE" ] || {
        echo "no $TABLE to check against; run scripts/bench/callgrind.sh first" >&2
        exit 1
    }
    status=0
    while IFS=$'\t' read -r op now _; do
        [ "$op" = operation ] && continue
        was="$(awk -F'\t' -v op="$op" '$1 == op {print $2}' "$TABLE")"
        if [ -z "$was" ]; then
            echo "$op: not in $TABLE" >&2
            status=1
            continue
        fi
        change=$(awk -v a="$now" -v b="$was" 'BEGIN {printf "%.1f", 100 * (a - b) / b}')
        verdict=ok
        if awk -v c="$change" -v t="$TOLERANCE" 'BEGIN {exit !(c > t || c < -t)}'; then
            verdict="OUTSIDE +-$TOLERANCE%"
            status=1
        fi
        echo "$op: $now vs $was recorded ($change%) $verdict"
    done <"$measured"
    exit "$status"
fi
cp "$measured" "$TABLE"
echo "wrote $TABLE"
