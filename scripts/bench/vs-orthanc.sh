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
ORTHANC_PLUGIN=/usr/share/orthanc/plugins/libOrthancDicomWeb.so

if ! command -v Orthanc >/dev/null || [ ! -f "$ORTHANC_PLUGIN" ]; then
    echo "installing Orthanc and its DICOMweb plugin from Debian ..."
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    # Debian's package would start its own service; forbid that (we run our own instance).
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod +x /usr/sbin/policy-rc.d
        made_policy=1
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq orthanc orthanc-dicomweb
    [ -z "$made_policy" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi
# If the Debian service runs anyway, it only holds port 8042, the DICOM port and its own
# folders; stop it so it takes no CPU during the run.
if command -v systemctl >/dev/null && systemctl is-active --quiet orthanc 2>/dev/null; then
    systemctl stop orthanc || true
fi

# TESSERA_BIN and TESSERA_BENCH_BIN: the server and the load generator built from this
# checkout already (skips the build).
if [ -z "${TESSERA_BIN:-}" ] || [ -z "${TESSERA_BENCH_BIN:-}" ]; then
    cargo build --release --quiet -p tessera -p tessera-bench
fi
mkdir -p "$OUT"
# Private copies: the target folder may be shared with other checkouts whose builds would
# replace target/release/tessera during the run.
BIN="$OUT/tessera"
BENCH="$OUT/tessera-bench"
cp "${TESSERA_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera}" "$BIN"
cp "${TESSERA_BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera-bench}" "$BENCH"
"$BENCH" --help | grep -q -- --compare-pid || {
    echo "$BENCH is not this checkout's build (no --compare-pid); run again" >&2
    exit 1
}
# exec: started with `pin ... &`, the background subshell becomes the program itself, so $!
# is the server's pid (its /proc figures), not a shell's.
pin() {
    local cpu="$1"
    shift
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        exec taskset -c "$cpu" "$@"
    else
        exec "$@"
    fi
}
wait_for() {
    for _ in $(seq 1 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
    echo "not answering: $1" >&2
    return 1
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
