# shellcheck shell=bash
# What scripts/test/oidc.sh and scripts/test/fhir-server.sh share: a node server of tests/support on loopback,
# its npm packages installed with `npm ci` into a cache dir keyed by the hash of package{,-lock}.json, a pid
# file guarded against pid reuse, start (waiting until it answers), stop (SIGTERM, SIGKILL after 10 s, then
# waiting until its port is closed), status and the env file. Sourced, not run: the sourcing script sets
# `set -euo pipefail`, the variables and functions below, then calls `node_server_main "$@"`.
#
# Variables the script sets (read when a command runs, so they may be set before or after sourcing this):
#   SCRIPT         the script's absolute path (its basename tags the messages, "[oidc.sh] ...")
#   REPO_ROOT      the repository's root
#   SERVER_NAME    what the messages call the server ("the OpenID provider")
#   SRC_DIR        the server's source dir, with package.json and package-lock.json
#   SERVER_ENTRY   what /proc/<pid>/cmdline must contain to be our server ("oidc-provider/server.mjs")
#   CACHE_DIR      where the npm packages are installed, one dir per hash
#   STATE_DIR      the state dir (server.pid, server.log, env, and whatever the server keeps)
#   PORT           port on 127.0.0.1
#   PORT_VAR       the environment variable that sets the port (named when the port is taken)
#   SERVER_URL     the server's URL, as status and the messages show it
#   READY_URL      the URL that answers READY_STATUS (default 200) once the server is up
#   START_DETAIL   what the "starting" message says before the log ("state /tmp/x")
#   UP_DETAIL      optional: appended to the "up in N ms: URL (pid N)" message
# Functions the script defines after sourcing this:
#   write_env_vars   prints the env file's lines after its header (export lines)
#   exec_server      execs the server (`exec nohup node ...`: exec, so that the pid in the pid file is node's);
#                    runs in the background with its output in the log; DEPS_DIR is the npm install
#                    (node_modules under it)
#   on_fresh         what start --fresh wipes (the server is stopped by then)
#   before_start     optional: runs just before the server starts (the port is known to be free)
#   after_start      optional: runs once the server answers, before the env file is written

NODE_MIN="20.19"

log() { echo "[$(basename "$SCRIPT")] $*" >&2; }
die() {
    echo "[$(basename "$SCRIPT")] ERROR: $*" >&2
    exit 1
}
now_ms() { date +%s%3N; }

before_start() { :; }
after_start() { :; }
READY_STATUS=200

# ---------------------------------------------------------------------------
# npm packages (cached by the hash of package.json + package-lock.json)

check_node() {
    command -v node >/dev/null 2>&1 || die "node not found (needs node >= $NODE_MIN and npm)"
    command -v npm >/dev/null 2>&1 || die "npm not found (needs node >= $NODE_MIN and npm)"
    node -e "
        const [a, b] = process.versions.node.split('.').map(Number), [x, y] = '$NODE_MIN'.split('.').map(Number);
        process.exit(a > x || (a === x && b >= y) ? 0 : 1);" \
        || die "node $(node --version) is too old: $SERVER_NAME's packages need node >= $NODE_MIN"
}

# Sets DEPS_DIR to a complete install of the server's npm packages, installing it if needed.
ensure_deps() {
    local hash
    hash="$(cat "$SRC_DIR/package.json" "$SRC_DIR/package-lock.json" | sha256sum | cut -c1-16)"
    DEPS_DIR="$CACHE_DIR/$hash"
    [[ -f "$DEPS_DIR/.complete" ]] && return 0
    local t0 tmp
    t0="$(now_ms)"
    log "installing $SERVER_NAME's npm packages into $DEPS_DIR (npm ci)"
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
    # Guard against pid reuse: it must be a node process running our server's entry file.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$SERVER_ENTRY" || return 1
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
    log "stopping $SERVER_NAME (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        log "$SERVER_NAME did not exit 10 s after SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do
            alive "$pid" || break
            sleep 0.05
        done
    fi
    alive "$pid" && die "could not stop $SERVER_NAME (pid $pid)"
    rm -f "$PID_FILE"
    wait_port_closed || die "port 127.0.0.1:$PORT still open after $SERVER_NAME (pid $pid) exited"
}

dump_log() {
    if [[ -f "$LOG_FILE" ]]; then
        echo "---- last lines of $LOG_FILE ----" >&2
        tail -n 40 "$LOG_FILE" >&2 || true
        echo "---------------------------------" >&2
    fi
}

fail_started() {
    echo "[$(basename "$SCRIPT")] ERROR: $*" >&2
    dump_log
    stop_server || true
    exit 1
}

write_env() {
    {
        echo "# generated by ${SCRIPT#"$REPO_ROOT"/} start; source this file"
        write_env_vars
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
            log "already running (pid $pid) at $SERVER_URL"
            write_env
            echo "$ENV_FILE"
            return 0
        fi
        stop_server
    fi
    if [[ $fresh -eq 1 ]]; then
        on_fresh
    fi
    port_in_use && die "port 127.0.0.1:$PORT is already in use by another process; set $PORT_VAR"
    before_start

    local t0 code=""
    t0="$(now_ms)"
    log "starting $SERVER_NAME ($START_DETAIL, log $LOG_FILE)"
    exec_server </dev/null >>"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
    pid="$(cat "$PID_FILE")"
    for _ in $(seq 1 1200); do
        alive "$pid" || fail_started "$SERVER_NAME exited during startup"
        code="$(curl -s -o /dev/null -w '%{http_code}' "$READY_URL" 2>/dev/null)" || true
        [[ "$code" == "$READY_STATUS" ]] && break
        sleep 0.05
    done
    [[ "$code" == "$READY_STATUS" ]] ||
        fail_started "GET $READY_URL did not answer $READY_STATUS within 60 s (last: '$code')"
    after_start
    write_env
    log "up in $(($(now_ms) - t0)) ms: $SERVER_URL (pid $pid)${UP_DETAIL:-}"
    log "env file: $ENV_FILE   (source it: . $ENV_FILE)"
    echo "$ENV_FILE"
}

cmd_status() {
    local pid
    if pid="$(running_pid)"; then
        echo "running pid $pid at $SERVER_URL"
    else
        echo "not running"
        exit 3
    fi
}

node_server_main() {
    PID_FILE="$STATE_DIR/server.pid"
    LOG_FILE="$STATE_DIR/server.log"
    ENV_FILE="$STATE_DIR/env"
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
}
