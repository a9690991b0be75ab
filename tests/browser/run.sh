#!/usr/bin/env bash
# The browser end-to-end test (run by scripts/test.sh; runnable alone):
#   tests/browser/run.sh                 build tessera (debug) and run
#   TESSERA_BIN=path tests/browser/run.sh   use that binary (e.g. a release build, for the timings)
#   BROWSER_BENCH=1 ...                  then also run bench.mjs (timings, information only)
#
# Installs what it needs when missing (Debian's chromium, playwright-core from npm into
# tests/browser/node_modules, the OHIF viewer via scripts/dev/ohif.sh), writes the synthetic study
# (make_study.py), starts three Tessera servers on loopback in a temporary folder (SQLite +
# local disk): A holds the study and serves the viewer, B serves only the viewer with its
# app-config pointing at A (another origin), C requires signing in (--auth required) with the
# OpenID provider of scripts/test/oidc.sh, whose pages sign in with its public client. Stores
# the study into A over STOW-RS, and into C with a client_credentials token, and runs
# ohif.test.mjs (A, B) and auth.test.mjs (C). The provider is the one TESSERA_TEST_OIDC_* name
# (scripts/test.sh starts it); when they are unset this script starts it and stops it again.
# Screenshots, timings and server logs go to target/browser-artifacts/.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
ARTIFACTS="${BROWSER_ARTIFACTS:-$REPO_ROOT/target/browser-artifacts}"
die() {
    echo "browser test: ERROR: $*" >&2
    exit 1
}

if [[ ! -x /usr/bin/chromium ]]; then
    echo "browser test: /usr/bin/chromium missing; installing Debian's chromium"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
        || die "could not install chromium"
fi
[[ -x /usr/bin/chromium ]] || die "/usr/bin/chromium is still missing"
if ! command -v npm >/dev/null 2>&1; then
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; } \
        || die "could not install nodejs and npm"
fi
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci (playwright-core) failed"
VIEWER_DIR="$("$REPO_ROOT/scripts/dev/ohif.sh")" || die "scripts/dev/ohif.sh failed"

BIN="${TESSERA_BIN:-}"
if [[ -z "$BIN" ]]; then
    (cd "$REPO_ROOT" && cargo build --all-features --bin tessera) || die "cargo build failed"
    BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/debug/tessera"
fi

rm -rf "$ARTIFACTS"
mkdir -p "$ARTIFACTS"
[[ -x "$BIN" ]] || die "no tessera binary at $BIN"
WORK="$(mktemp -d)"
# A private copy: the build folder may be shared and rebuilt while the test runs.
cp "$BIN" "$WORK/tessera"
BIN="$WORK/tessera"
PIDS=()
OIDC_STARTED=""
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [[ -n "$OIDC_STARTED" ]]; then
        "$REPO_ROOT/scripts/test/oidc.sh" stop || echo "browser test: WARNING: could not stop the OpenID provider" >&2
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

python3 "$HERE/make_study.py" "$WORK/study"

# Start `tessera serve --listen 127.0.0.1:0 ARGS...` with its output in LOG, and set URL to
# the address it says it bound (the one line "tessera: listening on http://ADDR" on its
# stdout): no port is reserved here and released, which another process could take in
# between. Fails, showing the log, when that line does not come within 30 s or the server
# exits first.
start_tessera() {
    local log="$1"
    shift
    "$BIN" serve --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    local deadline=$((SECONDS + 30))
    while :; do
        URL="$(grep -aoE -m 1 'tessera: listening on http://[0-9A-Za-z.:]+' "$log" | sed 's/^tessera: listening on //')" || true
        [[ -n "$URL" ]] && break
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            die "tessera exited before listening (log above, and in $log)"
        fi
        if ((SECONDS >= deadline)); then
            cat "$log" >&2
            die "tessera did not say where it listens within 30 s (log above, and in $log)"
        fi
        sleep 0.1
    done
    curl -fsS -o /dev/null "$URL/healthz" || die "tessera at $URL is not healthy (see $log)"
}

# A holds the study; B serves only the viewer, pointed at A: A first, to learn its address.
start_tessera "$ARTIFACTS/tessera-a.log" --data-dir "$WORK/a" --viewer-dir "$VIEWER_DIR"
A="$URL"
start_tessera "$ARTIFACTS/tessera-b.log" --data-dir "$WORK/b" --viewer-dir "$VIEWER_DIR" \
    --viewer-dicomweb-url "$A/dicom-web"
B="$URL"

# The OpenID provider for C: the one named in the environment, else started here.
if [[ -z "${TESSERA_TEST_OIDC_ISSUER:-}" ]]; then
    if ! "$REPO_ROOT/scripts/test/oidc.sh" status >/dev/null; then OIDC_STARTED=1; fi
    OIDC_ENV="$("$REPO_ROOT/scripts/test/oidc.sh" start)" || die "scripts/test/oidc.sh start failed"
    # shellcheck source=/dev/null
    . "$OIDC_ENV"
fi
for v in TESSERA_TEST_OIDC_ISSUER TESSERA_TEST_OIDC_AUDIENCE TESSERA_TEST_OIDC_VIEWER_CLIENT \
    TESSERA_TEST_OIDC_SCRIPT_CLIENT TESSERA_TEST_OIDC_SCRIPT_SECRET; do
    [[ -n "${!v:-}" ]] || die "$v is not set (scripts/test/oidc.sh env)"
done
start_tessera "$ARTIFACTS/tessera-c.log" --data-dir "$WORK/c" --viewer-dir "$VIEWER_DIR" \
    --auth required --oidc-issuer "$TESSERA_TEST_OIDC_ISSUER" --oidc-audience "$TESSERA_TEST_OIDC_AUDIENCE" \
    --viewer-oidc-client-id "$TESSERA_TEST_OIDC_VIEWER_CLIENT"
C="$URL"

# STOW of the study into BASE; with a client id and secret, under a client_credentials token
# of the provider.
store_study() {
    python3 - "$WORK/study" "$@" <<'PY'
import glob, os, sys, requests
folder, base = sys.argv[1], sys.argv[2]
headers = {}
if len(sys.argv) > 3:
    token = requests.post(os.environ["TESSERA_TEST_OIDC_ISSUER"] + "/token", data={"grant_type": "client_credentials"},
                          auth=(sys.argv[3], sys.argv[4]))
    if token.status_code != 200:
        sys.exit(f"the provider refused a client_credentials token: {token.status_code} {token.text[:300]}")
    headers["Authorization"] = "Bearer " + token.json()["access_token"]
files = sorted(glob.glob(folder + "/*.dcm"))
b = "tessera-browser-test"
body = b"".join(b"--%s\r\nContent-Type: application/dicom\r\n\r\n%s\r\n" % (b.encode(), open(f, "rb").read()) for f in files)
body += b"--%s--\r\n" % b.encode()
headers["Content-Type"] = f'multipart/related; type="application/dicom"; boundary={b}'
r = requests.post(base + "/dicom-web/studies", data=body, headers=headers)
if r.status_code != 200:
    sys.exit(f"STOW of the browser study into {base} answered {r.status_code}: {r.text[:500]}")
print(f"stored {len(files)} instances into {base}")
PY
}
store_study "$A"
store_study "$C" "$TESSERA_TEST_OIDC_SCRIPT_CLIENT" "$TESSERA_TEST_OIDC_SCRIPT_SECRET"

echo "browser test: artifacts in $ARTIFACTS"
TESSERA_URL="$A" TESSERA_VIEWER_ONLY_URL="$B" EXPECTED="$WORK/study/expected.json" \
    ARTIFACTS="$ARTIFACTS" node "$HERE/ohif.test.mjs"
TESSERA_AUTH_URL="$C" EXPECTED="$WORK/study/expected.json" ARTIFACTS="$ARTIFACTS" node "$HERE/auth.test.mjs"
if [[ -n "${BROWSER_BENCH:-}" ]]; then
    TESSERA_URL="$A" EXPECTED="$WORK/study/expected.json" ARTIFACTS="$ARTIFACTS" node "$HERE/bench.mjs"
fi
