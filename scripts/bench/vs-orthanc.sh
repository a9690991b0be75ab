#!/usr/bin/env bash
# Tessera vs Orthanc, side by side on this machine, in one run (issue 6).
#   scripts/bench/vs-orthanc.sh [REPS] [extra `tessera-bench` flags, e.g. --populate 20000]
# Each repetition starts three fresh processes in temporary folders: a release Tessera on
# local disk + SQLite, Orthanc (Debian's orthanc + orthanc-dicomweb, tuned config
# scripts/bench/orthanc.json) and the trivial ceiling server; then `tessera-bench --workload all`
# runs against Tessera (target) and Orthanc (compare), alternating which goes first.
# Pinning (taskset, when there are at least 2 cores): the servers on core $SERVER_CPU (1),
# the load generator on core $CLIENT_CPU (0). At the end the medians and ranges over the
# repetitions are printed and written to $OUT/summary.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS="${1:-3}"
shift || true
OUT="${OUT:-bench-out/vs-orthanc}"
TPORT="${TPORT:-8191}"
OPORT="${OPORT:-8192}"
CPORT="${CPORT:-8193}"
SERVER_CPU="${SERVER_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
install_orthanc
copy_binaries
"$BENCH" --help | grep -q -- --compare-pid || {
    echo "$BENCH is not this checkout's build (no --compare-pid); run again" >&2
    exit 1
}
{
    echo "date: $(date -u +%FT%TZ)"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -m | awk '/Mem:/ {print $2}') MiB RAM"
    echo "kernel: $(uname -r)"
    echo "orthanc: $(Orthanc --version | head -1), plugin $(dpkg-query -W -f='${Version}' orthanc-dicomweb 2>/dev/null)"
    echo "tessera: $(git rev-parse --short HEAD)$(git status --porcelain | grep -q . && echo ' (dirty)'), binary sha256 $(sha256sum "$BIN" | cut -c1-16), load generator sha256 $(sha256sum "$BENCH" | cut -c1-16)"
    echo "pinning: servers on core $SERVER_CPU, load generator on core $CLIENT_CPU (taskset)"
    echo "extra flags: $*"
} | tee "$OUT/machine.txt"

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    rm -rf "${tdata:-}" "${odata:-}"
}
trap cleanup EXIT

for rep in $(seq 1 "$REPS"); do
    tdata="$(mktemp -d /tmp/vs-tessera.XXXXXX)"
    odata="$(mktemp -d /tmp/vs-orthanc.XXXXXX)"
    mkdir -p "$odata/storage" "$odata/index" "$odata/tmp"
    sed "s#@DATA@#$odata#g; s#@PORT@#$OPORT#g" scripts/bench/orthanc.json >"$odata/orthanc.json"

    pin "$SERVER_CPU" "$BIN" serve --listen "127.0.0.1:$TPORT" --data-dir "$tdata" \
        >"$OUT/tessera-$rep.log" 2>&1 &
    tpid=$!
    pids+=("$tpid")
    pin "$SERVER_CPU" Orthanc "$odata/orthanc.json" >"$OUT/orthanc-$rep.log" 2>&1 &
    opid=$!
    pids+=("$opid")
    pin "$SERVER_CPU" "$BENCH" --ceiling-serve "127.0.0.1:$CPORT" >/dev/null 2>&1 &
    pids+=("$!")
    wait_for "http://127.0.0.1:$TPORT/healthz"
    wait_for "http://127.0.0.1:$OPORT/system"
    wait_for "http://127.0.0.1:$CPORT/ok"

    order=()
    [ $((rep % 2)) -eq 0 ] && order=(--compare-first)
    echo "== repetition $rep/$REPS ${order[*]:-tessera first}; load average $(cut -d' ' -f1-3 /proc/loadavg)" \
        | tee -a "$OUT/machine.txt"
    (pin "$CLIENT_CPU" "$BENCH" --workload all \
        --target "http://127.0.0.1:$TPORT/dicom-web" --target-pid "$tpid" --target-name tessera \
        --compare "http://127.0.0.1:$OPORT/dicom-web" --compare-pid "$opid" --compare-name orthanc \
        "${order[@]}" --ceiling-url "http://127.0.0.1:$CPORT" --disk-ceiling-dir "$tdata" \
        --json "$OUT/run-$rep.json" "$@") 2>"$OUT/bench-$rep.err" | tee "$OUT/run-$rep.txt"
    echo "   finished; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"
    cleanup
done

runs=()
for rep in $(seq 1 "$REPS"); do runs+=("$OUT/run-$rep.json"); done
"$BENCH" --summarize "${runs[@]}" --json "$OUT/summary.json" | tee "$OUT/summary.txt"
