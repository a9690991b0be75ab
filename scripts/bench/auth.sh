#!/usr/bin/env bash
# Authentication and audit (issue 15): the cost of checking a bearer credential, on the same
# data, in one run. One data set is stored once (through a Tessera with --auth none): the
# QIDO corpus (`--workload qido --populate $POPULATE`) and the 500-frame multi-frame instance
# (`--workload frames`). Then, REPS times, a fresh release Tessera (SQLite + local disk) is
# started on that data in each of three modes, in an order that alternates between
# repetitions, and the same QIDO mix and random frames are run against it:
#   none  --auth none (every read is still audited: that is not a setting)
#   key   --auth required, an API key with the read role (looked up in the index by SHA-256,
#         then trusted for --api-key-recheck-ms, 1 s by default)
#   jwt   --auth required, an RS256 access token of the test OpenID provider
#         (scripts/test/oidc.sh, client_credentials of the script client; verified on first
#         use, then cached until it expires); a fresh token per server
# key and jwt run the very same server command (--oidc-issuer/--oidc-audience on both); only
# the credential sent differs. The token reaches tessera-bench in TESSERA_BENCH_TOKEN, never
# on a command line. Pinning (taskset, at least 2 cores): server on core $SERVER_CPU (1),
# load generator on core $CLIENT_CPU (0). Before each measured run a short warm-up run.
# Reports (JSON, text) go to $OUT; the medians, ranges and ratios to `none` are printed at
# the end and written to $OUT/summary.md and $OUT/summary.json.
#
#   scripts/bench/auth.sh [REPS]
# Settings (environment): POPULATE (100000 instances), QUERIES (per query type, 3000), FRAMES
# (random frames per run, 30000), WARMUP_QUERIES (100), WARMUP_FRAMES (1000), PORT (8099),
# OUT (bench-out/auth), KEEP_DATA (1: keep the data folder, e.g. to profile), TESSERA_BIN and TESSERA_BENCH_BIN (prebuilt binaries: no build).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS="${1:-3}"
OUT="${OUT:-bench-out/auth}"
PORT="${PORT:-8099}"
POPULATE="${POPULATE:-100000}"
QUERIES="${QUERIES:-3000}"
FRAMES="${FRAMES:-30000}"
WARMUP_QUERIES="${WARMUP_QUERIES:-100}"
WARMUP_FRAMES="${WARMUP_FRAMES:-1000}"
SERVER_CPU="${SERVER_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
URL="http://127.0.0.1:$PORT/dicom-web"

# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
rm -rf "$OUT"
copy_binaries
"$BENCH" --help | grep -q -- --stored || {
    echo "$BENCH is not this checkout's build (no --stored); build again" >&2
    exit 1
}

# The OpenID provider of the tests; stopped at the end only if this script started it.
OIDC=scripts/test/oidc.sh
oidc_started=""
if ! "$OIDC" status >/dev/null 2>&1; then
    "$OIDC" start >/dev/null
    oidc_started=1
fi
eval "$("$OIDC" env)"
: "${TESSERA_TEST_OIDC_ISSUER:?}" "${TESSERA_TEST_OIDC_AUDIENCE:?}"
: "${TESSERA_TEST_OIDC_SCRIPT_CLIENT:?}" "${TESSERA_TEST_OIDC_SCRIPT_SECRET:?}"
token() {
    curl -sf -u "$TESSERA_TEST_OIDC_SCRIPT_CLIENT:$TESSERA_TEST_OIDC_SCRIPT_SECRET" \
        -d grant_type=client_credentials "$TESSERA_TEST_OIDC_ISSUER/token" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])'
}

DATA="$(mktemp -d /tmp/tessera-auth-bench.XXXXXX)"
server=""
stop_server() {
    if [ -n "$server" ]; then
        kill "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
}
cleanup() {
    stop_server
    if [ -n "${KEEP_DATA:-}" ]; then echo "data kept in $DATA"; else rm -rf "$DATA"; fi
    if [ -n "$oidc_started" ]; then "$OIDC" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

# start_server MODE LOG: a Tessera on $DATA; sets $server to its pid.
start_server() {
    local mode="$1" log="$2" flags=(--auth none)
    if [ "$mode" != none ]; then
        flags=(--auth required --oidc-issuer "$TESSERA_TEST_OIDC_ISSUER"
            --oidc-audience "$TESSERA_TEST_OIDC_AUDIENCE")
    fi
    pin "$SERVER_CPU" "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA" "${flags[@]}" \
        >"$log" 2>&1 &
    server=$!
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return 0
        sleep 0.1
    done
    echo "Tessera ($mode) did not start; see $log" >&2
    exit 1
}

bench() { (pin "$CLIENT_CPU" "$BENCH" --url "$URL" "$@"); }

QROOT="2.25.$((RANDOM * 32768 + RANDOM))1"
FROOT="2.25.$((RANDOM * 32768 + RANDOM))2"
{
    echo "date: $(date -u +%FT%TZ)"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -m | awk '/Mem:/ {print $2}') MiB RAM, kernel $(uname -r)"
    echo "rustc: $(rustc --version 2>/dev/null || echo unknown)"
    echo "tessera: $(git rev-parse --short HEAD)$(git status --porcelain | grep -q . && echo ' (dirty)'), binary sha256 $(sha256sum "$BIN" | cut -c1-16), load generator sha256 $(sha256sum "$BENCH" | cut -c1-16)"
    echo "pinning: server on core $SERVER_CPU, load generator on core $CLIENT_CPU (taskset)"
    echo "data: QIDO corpus of $POPULATE instances (root $QROOT), one 500-frame 256x256 16-bit instance (root $FROOT)"
    echo "per run: $QUERIES requests per QIDO query type at concurrency 8, $FRAMES random frames at concurrency 25"
    echo "OpenID provider: $TESSERA_TEST_OIDC_ISSUER, audience $TESSERA_TEST_OIDC_AUDIENCE"
} | tee "$OUT/machine.txt"

# The data, once; and the API key (read only).
echo "== storing the data (--auth none) ..."
start_server none "$OUT/server-load.log"
bench --workload qido --populate "$POPULATE" --queries 0 --uid-root "$QROOT" --server-pid "$server" \
    --json "$OUT/load-qido.json" >"$OUT/load-qido.txt"
bench --workload frames --wado-random-frames "$WARMUP_FRAMES" --uid-root "$FROOT" \
    --json "$OUT/load-frames.json" >"$OUT/load-frames.txt"
stop_server
grep -h "^stored\|populat" "$OUT/load-qido.txt" "$OUT/load-frames.txt" || true
API_KEY="$("$BIN" api-key create --name bench-read --roles read --data-dir "$DATA" | tail -n 1)"
[ -n "$API_KEY" ] || { echo "no API key was printed" >&2; exit 1; }

for rep in $(seq 1 "$REPS"); do
    modes=(none key jwt)
    [ $((rep % 2)) -eq 0 ] && modes=(jwt key none)
    for mode in "${modes[@]}"; do
        echo "== repetition $rep/$REPS, $mode; load average $(cut -d' ' -f1-3 /proc/loadavg)" \
            | tee -a "$OUT/machine.txt"
        start_server "$mode" "$OUT/server-$mode-$rep.log"
        case "$mode" in
            none) export TESSERA_BENCH_TOKEN="" ;;
            key) export TESSERA_BENCH_TOKEN="$API_KEY" ;;
            jwt) TESSERA_BENCH_TOKEN="$(token)"; export TESSERA_BENCH_TOKEN ;;
        esac
        common=(--server-pid "$server" --seed 1)
        bench --workload qido --stored --populate "$POPULATE" --uid-root "$QROOT" \
            --queries "$WARMUP_QUERIES" "${common[@]}" >"$OUT/warmup-qido-$mode-$rep.txt"
        bench --workload frames --stored --uid-root "$FROOT" --wado-random-frames "$WARMUP_FRAMES" \
            "${common[@]}" >"$OUT/warmup-frames-$mode-$rep.txt"
        bench --workload qido --stored --populate "$POPULATE" --uid-root "$QROOT" \
            --queries "$QUERIES" "${common[@]}" --json "$OUT/qido-$mode-$rep.json" \
            >"$OUT/qido-$mode-$rep.txt"
        bench --workload frames --stored --uid-root "$FROOT" --wado-random-frames "$FRAMES" \
            "${common[@]}" --json "$OUT/frames-$mode-$rep.json" >"$OUT/frames-$mode-$rep.txt"
        unset TESSERA_BENCH_TOKEN
        # A request without the credential must be refused when one is required: the
        # measured runs above really went through authentication.
        code="$(curl -s -o /dev/null -w '%{http_code}' "$URL/studies?limit=1")"
        echo "   without a credential: HTTP $code" | tee -a "$OUT/machine.txt"
        if [ "$mode" != none ] && [ "$code" != 401 ]; then
            echo "Tessera ($mode) answered $code without a credential" >&2
            exit 1
        fi
        stop_server
    done
done
# The audit trail the runs left (one record per audited request).
if command -v sqlite3 >/dev/null; then
    for db in "$DATA"/*.db "$DATA"/*.sqlite; do
        [ -f "$db" ] || continue
        for table in $(sqlite3 "$db" ".tables" | tr -s ' ' '\n' | grep -i audit); do
            echo "audit table $table in $(basename "$db"): $(sqlite3 "$db" "SELECT count(*) FROM $table") rows" \
                | tee -a "$OUT/machine.txt"
        done
    done
fi

# Medians and ranges over the repetitions; ratios to `none` are taken within each repetition.
python3 - "$OUT" "$REPS" <<'PY' | tee "$OUT/summary.md"
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
MODES = ["none", "key", "jwt"]
def load(kind, mode, rep):
    with open(f"{out}/{kind}-{mode}-{rep}.json") as f:
        return json.load(f)
def cpu(row):
    return (row.get("server") or {}).get("cpu_s") or 0.0
figures = {}  # (workload, mode) -> list over reps of dict
errors = 0
for rep in range(1, reps + 1):
    for mode in MODES:
        q = load("qido", mode, rep)["qido"]["queries"]
        errors += sum(r["errors"] for r in q)
        requests, seconds = sum(r["requests"] for r in q), sum(r["seconds"] for r in q)
        figures.setdefault(("QIDO mix", mode), []).append({
            "rate": requests / seconds, "cpu_ms": 1000 * sum(cpu(r) for r in q) / requests,
            "p50": None, "p99": None})
        for r in q:
            figures.setdefault((f"QIDO {r['query']}", mode), []).append({
                "rate": r["requests_per_s"], "cpu_ms": 1000 * cpu(r) / max(r["requests"], 1),
                "p50": r["p50_ms"], "p99": r["p99_ms"]})
        f = load("frames", mode, rep)["frames"]["rows"][0]
        errors += f["errors"]
        figures.setdefault(("random frames", mode), []).append({
            "rate": f["requests_per_s"], "cpu_ms": 1000 * cpu(f) / max(f["requests"], 1),
            "p50": f["p50_ms"], "p99": f["p99_ms"]})
def mr(values, fmt):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{fmt(statistics.median(values))} ({fmt(min(values))}–{fmt(max(values))})"
n0 = lambda v: f"{v:,.0f}"
n2 = lambda v: f"{v:.2f}"
n3 = lambda v: f"{v:.3f}"
workloads = list(dict.fromkeys(w for w, _ in figures))
order = ["random frames", "QIDO mix"] + [w for w in workloads if w not in ("random frames", "QIDO mix")]
summary = []
print(f"{reps} repetitions; median (min–max). Ratio: the mode's req/s over none's in the same repetition.")
print(f"Failed requests in all measured runs: {errors}.\n")
print("| workload | auth | req/s | ratio to none | p50 ms | p99 ms | server CPU ms/req |")
print("|---|---|---|---|---|---|---|")
for w in order:
    base = figures[(w, "none")]
    for mode in MODES:
        runs = figures[(w, mode)]
        ratios = [r["rate"] / b["rate"] for r, b in zip(runs, base)]
        cpu_ratio = [r["cpu_ms"] / b["cpu_ms"] if b["cpu_ms"] else None for r, b in zip(runs, base)]
        row = {"workload": w, "auth": mode,
               "rate": [r["rate"] for r in runs], "ratio": ratios,
               "p50_ms": [r["p50"] for r in runs], "p99_ms": [r["p99"] for r in runs],
               "server_cpu_ms_per_request": [r["cpu_ms"] for r in runs], "cpu_ratio": cpu_ratio}
        summary.append(row)
        print(f"| {w} | {mode} | {mr(row['rate'], n0)} | "
              f"{'–' if mode == 'none' else mr(ratios, n3)} | {mr(row['p50_ms'], n2)} | "
              f"{mr(row['p99_ms'], n2)} | {mr(row['server_cpu_ms_per_request'], n3)} |")
with open(f"{out}/summary.json", "w") as f:
    json.dump({"repetitions": reps, "failed_requests": errors, "rows": summary}, f, indent=1)
PY
