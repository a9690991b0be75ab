#!/usr/bin/env bash
# WADO-RS benchmark: a release Tessera on SQLite + local disk, then `tessera-bench --workload
# wado` REPS times, a fresh server and data folder each time (so every run's first metadata
# request and first replay are cold; the OS page cache is warm, the files were just written).
# JSON reports and the tables go to $OUT.
#   scripts/bench/wado.sh [REPS] [extra bench flags, e.g. --wado-big-study-mb 2048]
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS="${1:-3}"
shift || true
OUT="${OUT:-bench-out}"
PORT="${PORT:-8097}"
DATA="${DATA:-/tmp/wb}"
mkdir -p "$OUT"
cargo build --release --quiet -p tessera -p tessera-bench
for rep in $(seq 1 "$REPS"); do
    rm -rf "$DATA"
    ./target/release/tessera serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" >"$OUT/wado-server-$rep.log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null || true; rm -rf "$DATA"' EXIT
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    echo "== repetition $rep ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg))"
    ./target/release/tessera-bench --url "http://127.0.0.1:$PORT/dicom-web" --workload wado \
        --server-pid "$pid" --json "$OUT/wado-$rep.json" "$@" | tee "$OUT/wado-$rep.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$DATA"
    trap - EXIT
done
