#!/usr/bin/env bash
# Single-node Garage (S3-compatible object store) on loopback, for Tessera's tests.
#
#   scripts/test/garage.sh start   install garage 2.5.0 if needed, start a fresh instance,
#                             create bucket + key, smoke-test S3, write <state dir>/env
#   scripts/test/garage.sh stop    stop the instance started by `start`
#
# Settings (environment):
#   TESSERA_GARAGE_DIR        state dir, wiped on every start   (default /tmp/tessera-garage)
#   TESSERA_GARAGE_S3_PORT    S3 API port on 127.0.0.1           (default 3900)
#   TESSERA_GARAGE_RPC_PORT   RPC port on 127.0.0.1              (default 3901)
#
# The env file holds: TESSERA_TEST_S3_ENDPOINT, TESSERA_TEST_S3_BUCKET, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_REGION, AWS_DEFAULT_REGION, AWS_ALLOW_HTTP.
set -euo pipefail

GARAGE_VERSION="2.5.0"
STATE_DIR="${TESSERA_GARAGE_DIR:-/tmp/tessera-garage}"
S3_PORT="${TESSERA_GARAGE_S3_PORT:-3900}"
RPC_PORT="${TESSERA_GARAGE_RPC_PORT:-3901}"
BUCKET="tessera-test"
KEY_NAME="tessera-test-key"
REGION="garage"
CONFIG="$STATE_DIR/garage.toml"
PID_FILE="$STATE_DIR/garage.pid"
LOG_FILE="$STATE_DIR/garage.log"
ENV_FILE="$STATE_DIR/env"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

log() { echo "[garage.sh] $*" >&2; }
die() {
    echo "[garage.sh] ERROR: $*" >&2
    exit 1
}
trap 'echo "[garage.sh] ERROR: command failed (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

# ---------------------------------------------------------------------------
# garage binary

is_right_version() {
    local out
    out="$("$1" --version 2>/dev/null)" || return 1
    # e.g. "garage cargo:2.5.0 [features: ...]" or "garage v2.5.0 [...]"
    [[ "$out" =~ (^|[^0-9.])v?${GARAGE_VERSION//./\\.}([^0-9.]|$) ]]
}

find_garage() {
    local candidate
    for candidate in "$(command -v garage 2>/dev/null || true)" "$CARGO_BIN/garage"; do
        if [[ -n "$candidate" && -x "$candidate" ]] && is_right_version "$candidate"; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_garage() {
    if GARAGE="$(find_garage)"; then
        return 0
    fi
    command -v cargo >/dev/null 2>&1 || die "garage $GARAGE_VERSION not found and cargo is not on PATH to install it"
    log "garage $GARAGE_VERSION not found; running: cargo install garage --version $GARAGE_VERSION --locked (takes 10+ minutes)"
    local force=()
    # A garage binary of another version or origin sits in cargo's bin dir: replace it.
    [[ -e "$CARGO_BIN/garage" ]] && force=(--force)
    cargo install garage --version "$GARAGE_VERSION" --locked "${force[@]}" \
        || die "cargo install garage --version $GARAGE_VERSION failed"
    GARAGE="$(find_garage)" || die "garage $GARAGE_VERSION still not found after cargo install (looked on PATH and in $CARGO_BIN)"
}

g() { "$GARAGE" -c "$CONFIG" "$@"; }

# ---------------------------------------------------------------------------
# process handling

# Prints the pid from the pid file if that process is still a garage server.
running_pid() {
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    # Guard against pid reuse: it must be a garage server process.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'garage.* server' || return 1
    echo "$pid"
}

stop_garage() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE"
        return 0
    fi
    log "stopping garage (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "garage did not exit after SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    kill -0 "$pid" 2>/dev/null && die "could not stop garage (pid $pid)"
    rm -f "$PID_FILE"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

dump_log() {
    if [[ -f "$LOG_FILE" ]]; then
        echo "---- last lines of $LOG_FILE ----" >&2
        tail -n 40 "$LOG_FILE" >&2 || true
        echo "---------------------------------" >&2
    fi
}

fail_started() {
    echo "[garage.sh] ERROR: $*" >&2
    dump_log
    stop_garage || true
    exit 1
}

# ---------------------------------------------------------------------------
# start

cmd_start() {
    for tool in curl od cmp; do
        command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required but not installed"
    done
    ensure_garage
    log "using $GARAGE ($("$GARAGE" --version))"

    # Fresh every start: stop a previous instance of ours, wipe the state dir.
    stop_garage
    for port in "$S3_PORT" "$RPC_PORT"; do
        port_in_use "$port" && die "port 127.0.0.1:$port is already in use (another garage or service?); set TESSERA_GARAGE_S3_PORT / TESSERA_GARAGE_RPC_PORT"
    done
    [[ -n "$STATE_DIR" && "$STATE_DIR" != "/" ]] || die "refusing to wipe state dir '$STATE_DIR'"
    rm -rf "$STATE_DIR"
    mkdir -p "$STATE_DIR/meta" "$STATE_DIR/data"

    local rpc_secret
    rpc_secret="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    [[ ${#rpc_secret} -eq 64 ]] || die "could not generate rpc_secret"

    (
        umask 077
        cat >"$CONFIG" <<EOF
metadata_dir = "$STATE_DIR/meta"
data_dir = "$STATE_DIR/data"
db_engine = "sqlite"

replication_factor = 1

rpc_bind_addr = "127.0.0.1:$RPC_PORT"
rpc_public_addr = "127.0.0.1:$RPC_PORT"
rpc_secret = "$rpc_secret"

[s3_api]
s3_region = "$REGION"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.garage.localhost"
EOF
    )

    log "starting garage server (state dir $STATE_DIR, log $LOG_FILE)"
    NO_COLOR=1 RUST_LOG="${RUST_LOG:-garage=info}" nohup "$GARAGE" -c "$CONFIG" server \
        </dev/null >>"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"

    # Wait until it answers.
    local ok=0 server_pid
    server_pid="$(cat "$PID_FILE")"
    for _ in $(seq 1 120); do
        # Plain liveness check: right after the fork the process may not have exec'd garage yet.
        kill -0 "$server_pid" 2>/dev/null || fail_started "garage server exited during startup"
        if g status >/dev/null 2>&1; then
            ok=1
            break
        fi
        sleep 0.5
    done
    [[ $ok -eq 1 ]] || fail_started "garage did not answer 'garage status' within 60 s"

    # Layout: the one node, 1G, zone dc1.
    local status node_id
    status="$(g status 2>&1)" || fail_started "garage status failed: $status"
    node_id="$(g node id -q 2>/dev/null | cut -d@ -f1)" || fail_started "garage node id failed"
    [[ "$node_id" =~ ^[0-9a-f]{64}$ ]] || fail_started "unexpected node id '$node_id'"
    grep -q "^${node_id:0:16}" <<<"$status" || fail_started "node ${node_id:0:16} not listed as healthy in 'garage status':
$status"
    g layout assign -z dc1 -c 1G "$node_id" >/dev/null || fail_started "garage layout assign failed"
    g layout apply --version 1 >/dev/null || fail_started "garage layout apply failed"

    # Bucket and key.
    g bucket create "$BUCKET" >/dev/null || fail_started "garage bucket create $BUCKET failed"
    local create_out key_id secret
    create_out="$(g key create "$KEY_NAME")" || fail_started "garage key create $KEY_NAME failed"
    g bucket allow --read --write --owner "$BUCKET" --key "$KEY_NAME" >/dev/null \
        || fail_started "garage bucket allow failed"

    # Key id and secret: garage 2.x prints exactly one value with `key info --key-id` /
    # `key info --secret-key`; cross-check with the "Key ID:" / "Secret key:" lines of the
    # table printed by `key create`.
    key_id="$(g key info --key-id "$KEY_NAME")" || fail_started "garage key info --key-id failed"
    secret="$(g key info --secret-key "$KEY_NAME")" || fail_started "garage key info --secret-key failed"
    [[ "$key_id" =~ ^GK[0-9a-f]{24}$ ]] || fail_started "unexpected key id '$key_id'"
    [[ "$secret" =~ ^[0-9a-f]{64}$ ]] || fail_started "unexpected secret key format (length ${#secret})"
    grep -Eq "^Key ID:[[:space:]]+$key_id\$" <<<"$create_out" \
        || fail_started "key id from 'key info' does not match 'key create' output"
    grep -Eq "^Secret key:[[:space:]]+$secret\$" <<<"$create_out" \
        || fail_started "secret from 'key info' does not match 'key create' output"

    local bucket_info
    bucket_info="$(g bucket info "$BUCKET")" || fail_started "garage bucket info $BUCKET failed"
    grep -Eq "RWO[[:space:]]+$key_id" <<<"$bucket_info" \
        || fail_started "key $key_id lacks RWO on bucket $BUCKET:
$bucket_info"

    smoke_check "$key_id" "$secret"

    local endpoint="http://127.0.0.1:$S3_PORT"
    {
        echo "# generated by scripts/test/garage.sh start; source this file"
        printf 'export TESSERA_TEST_S3_ENDPOINT=%q\n' "$endpoint"
        printf 'export TESSERA_TEST_S3_BUCKET=%q\n' "$BUCKET"
        printf 'export AWS_ACCESS_KEY_ID=%q\n' "$key_id"
        printf 'export AWS_SECRET_ACCESS_KEY=%q\n' "$secret"
        printf 'export AWS_REGION=%q\n' "$REGION"
        printf 'export AWS_DEFAULT_REGION=%q\n' "$REGION"
        printf 'export AWS_ALLOW_HTTP=%q\n' "true"
    } >"$ENV_FILE"

    log "garage is up: S3 at $endpoint, bucket $BUCKET, pid $(cat "$PID_FILE")"
    log "env file: $ENV_FILE   (source it: . $ENV_FILE)"
    echo "$ENV_FILE"
}

# End-to-end S3 check with SigV4-signed requests: PUT an object, GET it back, compare, DELETE.
smoke_check() {
    local key_id="$1" secret="$2"
    local url="http://127.0.0.1:$S3_PORT/$BUCKET/.tessera-smoke-check"
    local body="$STATE_DIR/smoke.put" got="$STATE_DIR/smoke.get"
    head -c 4096 /dev/urandom >"$body"
    local sha
    sha="$(sha256sum "$body" | cut -d' ' -f1)"
    local sig=(--aws-sigv4 "aws:amz:$REGION:s3" --user "$key_id:$secret")
    local code=""
    # The freshly applied layout can take a moment before writes are accepted.
    for _ in $(seq 1 40); do
        code="$(curl -sS -o "$STATE_DIR/smoke.resp" -w '%{http_code}' "${sig[@]}" \
            -H "x-amz-content-sha256: $sha" -X PUT --data-binary "@$body" "$url" 2>&1)" || true
        [[ "$code" == 200 ]] && break
        sleep 0.5
    done
    [[ "$code" == 200 ]] || fail_started "S3 smoke check: PUT $url returned '$code': $(cat "$STATE_DIR/smoke.resp" 2>/dev/null)"
    code="$(curl -sS -o "$got" -w '%{http_code}' "${sig[@]}" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$url" 2>&1)" || true
    [[ "$code" == 200 ]] || fail_started "S3 smoke check: GET $url returned '$code'"
    cmp -s "$body" "$got" || fail_started "S3 smoke check: object read back differs from what was written"
    code="$(curl -sS -o /dev/null -w '%{http_code}' "${sig[@]}" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -X DELETE "$url" 2>&1)" || true
    [[ "$code" == 204 ]] || fail_started "S3 smoke check: DELETE $url returned '$code'"
    # An unsigned request must be refused, or the credentials are not being checked.
    code="$(curl -sS -o /dev/null -w '%{http_code}' "$url" 2>&1)" || true
    [[ "$code" == 403 ]] || fail_started "S3 smoke check: anonymous GET returned '$code', expected 403"
    rm -f "$body" "$got" "$STATE_DIR/smoke.resp"
    log "S3 smoke check passed (PUT/GET/DELETE with SigV4)"
}

case "${1:-}" in
    start) cmd_start ;;
    stop)
        stop_garage
        log "stopped"
        ;;
    *)
        echo "usage: $0 start|stop" >&2
        exit 2
        ;;
esac
