#!/usr/bin/env bash
# STOW benchmark: a release Tessera on SQLite + local disk in a temporary folder, then
# `tessera-bench` REPS times (fresh server each time), JSON reports in $OUT.
#   scripts/bench/stow.sh [REPS] [extra bench flags...]
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS="${1:-3}"
shift || true
OUT="${OUT:-bench-out}"
PORT="${PORT:-8190}"
mkdir -p "$OUT"
cargo build --release --quiet -p tessera -p tessera-bench
for rep in $(seq 1 "$REPS"); do
    data="$(mktemp -d /tmp/tessera-bench.XXXXXX)"
    ./target/release/tessera serve --listen "127.0.0.1:$PORT" --data-dir "$data" >"$OUT/server-$rep.log" 2>&1 &
    pid=$!
    trap 'kill $pid 2>/dev/null || true; rm -rf "$data"' EXIT
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
    echo "== repetition $rep"
    ./target/release/tessera-bench --url "http://127.0.0.1:$PORT/dicom-web" --server-pid "$pid" \
        --instances 1600 --big-request-mb 1024 --disk-ceiling-dir "$data" \
        --json "$OUT/stow-$rep.json" "$@"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -rf "$data"
    trap - EXIT
done
