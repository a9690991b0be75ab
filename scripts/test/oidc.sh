#!/usr/bin/env bash
# The OpenID provider that Tessera's authentication tests sign in with (tests/support/oidc-provider:
# the npm package oidc-provider 9.x with test accounts and clients), on loopback.
#
#   scripts/test/oidc.sh start [--fresh]   install its npm packages if needed, start it (keeps the signing
#                                          keys of an earlier run; --fresh makes new ones), wait until
#                                          GET <issuer>/.well-known/openid-configuration answers, write <dir>/env
#   scripts/test/oidc.sh stop              stop it (by pid), wait until its port is closed
#   scripts/test/oidc.sh status            "running pid N at URL" (exit 0) or "not running" (exit 3)
#   scripts/test/oidc.sh env               print the env file (export lines; source or eval it)
#
# Settings (environment):
#   TESSERA_OIDC_DIR     state dir: keys.json, server.pid, server.log, env   (default /tmp/tessera-oidc)
#   TESSERA_OIDC_PORT    port on 127.0.0.1                                  (default 18091)
#   TESSERA_OIDC_CACHE   where the npm packages are installed, one dir per hash of
#                        tests/support/oidc-provider/package{,-lock}.json       (default ~/.cache/tessera/oidc-provider)
#
# The env file holds TESSERA_TEST_OIDC_ISSUER (http://127.0.0.1:<port>), TESSERA_TEST_OIDC_AUDIENCE (the `aud`
# of its access tokens), TESSERA_TEST_OIDC_VIEWER_CLIENT (the public client of Tessera's pages), the
# client_credentials clients TESSERA_TEST_OIDC_SCRIPT_CLIENT/_SECRET (every role) and
# TESSERA_TEST_OIDC_READER_CLIENT/_SECRET (read only), TESSERA_TEST_OIDC_SCRIPT (this script's absolute path),
# TESSERA_OIDC_DIR and TESSERA_OIDC_PORT. Test users (user/password: roles): radiologist/radiologist-pw: read;
# technologist/technologist-pw: read, write; archivist/archivist-pw: read, write, delete, admin;
# visitor/visitor-pw: none.
# Needs node >= 20.19 and npm (the npm registry), curl.
set -euo pipefail

SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT")/../.." && pwd)"
SRC_DIR="$REPO_ROOT/tests/support/oidc-provider"
STATE_DIR="${TESSERA_OIDC_DIR:-/tmp/tessera-oidc}"
PORT="${TESSERA_OIDC_PORT:-18091}"
CACHE_DIR="${TESSERA_OIDC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/oidc-provider}"
KEYS_FILE="$STATE_DIR/keys.json"
PID_FILE="$STATE_DIR/server.pid"
LOG_FILE="$STATE_DIR/server.log"
ENV_FILE="$STATE_DIR/env"
ISSUER="http://127.0.0.1:$PORT"
DISCOVERY="$ISSUER/.well-known/openid-configuration"
# What server.mjs configures (tests/support/oidc-provider/server.mjs).
AUDIENCE="http://tessera.test/dicom-web"
NODE_MIN="20.19"

log() { echo "[oidc.sh] $*" >&2; }
die() {
    echo "[oidc.sh] ERROR: $*" >&2
    exit 1
}
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------
# npm packages (cached by the hash of package.json + package-lock.json)

check_node() {
    command -v node >/dev/null 2>&1 || die "node not found (needs node >= $NODE_MIN and npm)"
    command -v npm >/dev/null 2>&1 || die "npm not found (needs node >= $NODE_MIN and npm)"
    node -e "
        const [a, b] = process.versions.node.split('.').map(Number), [x, y] = '$NODE_MIN'.split('.').map(Number);
        process.exit(a > x || (a === x && b >= y) ? 0 : 1);" \
        || die "node $(node --version) is too old: the provider's packages need node >= $NODE_MIN"
}

# Sets DEPS_DIR to a complete install of the server's npm packages, installing it if needed.
ensure_deps() {
    local hash
    hash="$(cat "$SRC_DIR/package.json" "$SRC_DIR/package-lock.json" | sha256sum | cut -c1-16)"
    DEPS_DIR="$CACHE_DIR/$hash"
    [[ -f "$DEPS_DIR/.complete" ]] && return 0
    local t0 tmp
    t0="$(now_ms)"
    log "installing the provider's npm packages into $DEPS_DIR (npm ci)"
    mkdir -p "$CACHE_DIR"
    tmp="$(mktemp -d "$CACHE_DIR/.install.XXXXXX")"
    cp "$SRC_DIR/package.json" "$SRC_DIR/package-lock.json" "$tmp/"
    if ! (cd "$tmp" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
        rm -rf "$tmp"
        die "npm ci failed for $SRC_DIR/package-lock.json"
    fi
    touch "$tmp/.complete"
    # Another run may have finished the same install meanwhile: keep theirs.
    if ! mv -T "$tmp" "$DEPS_DIR" 2>/dev/null; then
        rm -rf "$tmp"
        [[ -f "$DEPS_DIR/.complete" ]] || die "could not move the npm install into $DEPS_DIR"
    fi
    log "npm packages installed in $(($(now_ms) - t0)) ms"
}

# ---------------------------------------------------------------------------
# process handling

# Prints the pid from the pid file if that process is still our server.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    # Guard against pid reuse: it must be a node process running our server.mjs.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "oidc-provider/server.mjs" || return 1
    echo "$pid"
}

# True while the process exists and has not exited: an exited child of ours whose parent (init, once
# the starting shell is gone) has not reaped it yet is a zombie that `kill -0` still finds.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    local state
    state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
    [[ "$state" != Z ]]
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

wait_port_closed() {
    for _ in $(seq 1 200); do
        port_in_use || return 0
        sleep 0.05
    done
    return 1
}

stop_server() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE"
        return 0
    fi
    log "stopping the OpenID provider (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        log "the OpenID provider did not exit 10 s after SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            alive "$pid" || break
            sleep 0.05
        done
    fi
    alive "$pid" && die "could not stop the OpenID provider (pid $pid)"
    rm -f "$PID_FILE"
    wait_port_closed || die "port 127.0.0.1:$PORT still open after the OpenID provider (pid $pid) exited"
}

dump_log() {
    if [[ -f "$LOG_FILE" ]]; then
        echo "---- last lines of $LOG_FILE ----" >&2
        tail -n 40 "$LOG_FILE" >&2 || true
        echo "---------------------------------" >&2
    fi
}

fail_started() {
    echo "[oidc.sh] ERROR: $*" >&2
    dump_log
    stop_server || true
    exit 1
}

write_env() {
    {
        echo "# generated by scripts/test/oidc.sh start; source this file"
        printf 'export TESSERA_TEST_OIDC_ISSUER=%q\n' "$ISSUER"
        printf 'export TESSERA_TEST_OIDC_AUDIENCE=%q\n' "$AUDIENCE"
        printf 'export TESSERA_TEST_OIDC_VIEWER_CLIENT=%q\n' tessera-viewer
        printf 'export TESSERA_TEST_OIDC_SCRIPT_CLIENT=%q\n' tessera-script
        printf 'export TESSERA_TEST_OIDC_SCRIPT_SECRET=%q\n' tessera-script-secret
        printf 'export TESSERA_TEST_OIDC_READER_CLIENT=%q\n' tessera-reader
        printf 'export TESSERA_TEST_OIDC_READER_SECRET=%q\n' tessera-reader-secret
        printf 'export TESSERA_TEST_OIDC_SCRIPT=%q\n' "$SCRIPT"
        printf 'export TESSERA_OIDC_DIR=%q\n' "$STATE_DIR"
        printf 'export TESSERA_OIDC_PORT=%q\n' "$PORT"
    } >"$ENV_FILE.tmp"
    mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------------------
# commands

cmd_start() {
    local fresh=0
    [[ "${1:-}" == "--fresh" ]] && fresh=1
    command -v curl >/dev/null 2>&1 || die "'curl' is required but not installed"
    check_node
    ensure_deps
    mkdir -p "$STATE_DIR"

    local pid
    if pid="$(running_pid)"; then
        if [[ $fresh -eq 0 ]]; then
            log "already running (pid $pid) at $ISSUER"
            write_env
            echo "$ENV_FILE"
            return 0
        fi
        stop_server
    fi
    if [[ $fresh -eq 1 ]]; then
        log "--fresh: new signing keys (removing $KEYS_FILE)"
        rm -f "$KEYS_FILE"
    fi
    port_in_use && die "port 127.0.0.1:$PORT is already in use by another process; set TESSERA_OIDC_PORT"

    local t0 code=""
    t0="$(now_ms)"
    log "starting the OpenID provider (state $STATE_DIR, log $LOG_FILE)"
    nohup node "$SRC_DIR/server.mjs" --host 127.0.0.1 --port "$PORT" --state-dir "$STATE_DIR" \
        --modules "$DEPS_DIR/node_modules" </dev/null >>"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
    pid="$(cat "$PID_FILE")"
    for _ in $(seq 1 1200); do
        alive "$pid" || fail_started "the OpenID provider exited during startup"
        code="$(curl -s -o /dev/null -w '%{http_code}' "$DISCOVERY" 2>/dev/null)" || true
        [[ "$code" == 200 ]] && break
        sleep 0.05
    done
    [[ "$code" == 200 ]] || fail_started "GET $DISCOVERY did not answer 200 within 60 s (last: '$code')"
    write_env
    log "up in $(($(now_ms) - t0)) ms: $ISSUER (pid $pid), audience $AUDIENCE"
    log "env file: $ENV_FILE   (source it: . $ENV_FILE)"
    echo "$ENV_FILE"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running pid $pid at $ISSUER"
    else
        echo "not running"
        exit 3
    fi
}

case "${1:-}" in
    start)
        shift
        cmd_start "$@"
        ;;
    stop)
        stop_server
        log "stopped"
        ;;
    status) cmd_status ;;
    env)
        [[ -f "$ENV_FILE" ]] || die "no env file at $ENV_FILE: run '$0 start' first"
        cat "$ENV_FILE"
        ;;
    *)
        echo "usage: $0 start [--fresh] | stop | status | env" >&2
        exit 2
        ;;
esac
