#!/usr/bin/env bash
# Checks docker/compose.yaml as far as a machine without a Docker engine can:
#
#   1. compose.yaml parses as YAML (and passes `docker compose config` or `docker-compose config`
#      when one is installed); every service named in a depends_on exists; every file
#      bind-mounted from docker/ exists; the values shared between services agree (key id,
#      secret and admin token; the bucket; Garage's admin and S3 ports in garage.toml).
#   2. A real Garage 2.5.0 (the local binary, not the image) runs docker/garage.toml, with only
#      its paths and addresses rewritten to a state dir and loopback ports, and its two secrets
#      given by environment as compose gives them, with compose's default values.
#   3. docker/garage-init.sh runs against it twice (the second run must change nothing), under
#      busybox sh and busybox's sed/grep/tr when busybox is installed (as in the curlimages/curl
#      image), else under /bin/sh.
#   4. target/debug/tessera serves on a fresh PostgreSQL database and that bucket, with the key
#      the init script imported; testdata/CT_small.dcm is stored (STOW-RS) and retrieved
#      (WADO-RS) bit-exact, and the bucket, listed through S3, holds the blob.
#   5. Everything started here is stopped, the database dropped, the state dir removed.
#
# Needs: garage 2.5.0 (PATH or ~/.cargo/bin; scripts/test/garage.sh installs it), a built
# target/debug/tessera (cargo build -p tessera), PostgreSQL on 127.0.0.1:5432 with createdb /
# dropdb rights, curl, python3 with PyYAML. Does not build anything.
#
# Settings (environment):
#   COMPOSE_CHECK_DIR         state dir, wiped at start and removed at the end (default /tmp/tessera-compose-check)
#   COMPOSE_CHECK_S3_PORT     Garage S3 port on 127.0.0.1     (default 3910)
#   COMPOSE_CHECK_RPC_PORT    Garage RPC port on 127.0.0.1    (default 3911)
#   COMPOSE_CHECK_ADMIN_PORT  Garage admin port on 127.0.0.1  (default 3913)
#   COMPOSE_CHECK_PG          PostgreSQL server URL without database (default postgres://root@127.0.0.1:5432)
#   TESSERA_BIN               the tessera binary              (default target/debug/tessera)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO_ROOT"

STATE_DIR="${COMPOSE_CHECK_DIR:-/tmp/tessera-compose-check}"
S3_PORT="${COMPOSE_CHECK_S3_PORT:-3910}"
RPC_PORT="${COMPOSE_CHECK_RPC_PORT:-3911}"
ADMIN_PORT="${COMPOSE_CHECK_ADMIN_PORT:-3913}"
PG_SERVER="${COMPOSE_CHECK_PG:-postgres://root@127.0.0.1:5432}"
PG_SERVER="${PG_SERVER%/}"
DB_NAME="tessera_compose_check"
TESSERA_BIN="${TESSERA_BIN:-$REPO_ROOT/target/debug/tessera}"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"

log() { echo "[compose-check] $*" >&2; }
die() {
    echo "[compose-check] ERROR: $*" >&2
    exit 1
}

GARAGE_PID=""
TESSERA_PID=""
DB_CREATED=""

stop_pid() {
    local pid="$1" name="$2"
    [[ -n "$pid" ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    log "$name (pid $pid) did not stop on SIGTERM; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT
    if [[ $rc -ne 0 ]]; then
        for f in "$STATE_DIR/garage.log" "$STATE_DIR/tessera.log"; do
            [[ -f "$f" ]] || continue
            echo "---- last lines of $f ----" >&2
            tail -n 25 "$f" >&2 || true
        done
    fi
    stop_pid "$TESSERA_PID" tessera
    stop_pid "$GARAGE_PID" garage
    if [[ -n "$DB_CREATED" ]]; then
        dropdb --if-exists --maintenance-db="$PG_SERVER/postgres" "$DB_NAME" 2>/dev/null \
            || psql -q "$PG_SERVER/postgres" -c "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null \
            || log "WARNING: could not drop database $DB_NAME"
    fi
    [[ $rc -ne 0 ]] || rm -rf "$STATE_DIR"
    if [[ $rc -eq 0 ]]; then
        log "PASSED"
    else
        log "FAILED (exit $rc); state left in $STATE_DIR"
    fi
    exit "$rc"
}
trap cleanup EXIT

for tool in curl python3 psql cmp; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' is required"
done
GARAGE=""
for candidate in "$(command -v garage 2>/dev/null || true)" "$CARGO_BIN/garage"; do
    if [[ -n "$candidate" && -x "$candidate" ]] && "$candidate" --version 2>/dev/null | grep -q '2\.5\.0'; then
        GARAGE="$candidate"
        break
    fi
done
[[ -n "$GARAGE" ]] || die "garage 2.5.0 not found on PATH or in $CARGO_BIN (scripts/test/garage.sh start installs it)"
[[ -x "$TESSERA_BIN" ]] || die "$TESSERA_BIN not found: cargo build -p tessera"

# ---------------------------------------------------------------------------------------------
log "1. docker/compose.yaml: YAML, depends_on, mounts, shared values"
# Prints shell assignments of compose's default secrets for the next steps.
DEFAULTS="$(python3 - docker/compose.yaml docker/garage.toml <<'EOF'
import os, re, sys, tomllib
try:
    import yaml
except ImportError:
    sys.exit("PyYAML is missing: pip install pyyaml")

compose_path, toml_path = sys.argv[1], sys.argv[2]
base = os.path.dirname(compose_path)
doc = yaml.safe_load(open(compose_path))
errors = []
services = doc.get("services") or {}
named_volumes = set((doc.get("volumes") or {}).keys())
for name, svc in services.items():
    deps = svc.get("depends_on") or {}
    for dep in (deps if isinstance(deps, list) else deps.keys()):
        if dep not in services:
            errors.append(f"{name}: depends_on names no service: {dep}")
    for vol in svc.get("volumes") or []:
        src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source")
        if src.startswith((".", "/")):
            if not os.path.isfile(os.path.join(base, src)):
                errors.append(f"{name}: mounted file {src} does not exist in {base}/")
        elif src not in named_volumes:
            errors.append(f"{name}: volume {src} is not declared under volumes:")
    build = svc.get("build")
    if build:
        ctx = os.path.join(base, build.get("context", "."))
        if not os.path.isfile(os.path.join(ctx, build.get("dockerfile", "Dockerfile"))):
            errors.append(f"{name}: build dockerfile not found")
deps_tessera = services["tessera"]["depends_on"]
if deps_tessera.get("garage-init", {}).get("condition") != "service_completed_successfully":
    errors.append("tessera must wait for garage-init with condition service_completed_successfully")

def env(service, var):
    return services[service]["environment"][var]

def default(value):
    m = re.fullmatch(r"\$\{(\w+):-(.*)\}", value)
    if not m:
        errors.append(f"no default in {value!r}")
        return None, value
    return m.group(1), m.group(2)

pairs = [
    (("garage-init", "GARAGE_KEY_ID"), ("tessera", "AWS_ACCESS_KEY_ID")),
    (("garage-init", "GARAGE_SECRET"), ("tessera", "AWS_SECRET_ACCESS_KEY")),
    (("garage-init", "GARAGE_ADMIN_TOKEN"), ("garage", "GARAGE_ADMIN_TOKEN")),
]
for a, b in pairs:
    if env(*a) != env(*b):
        errors.append(f"{a} and {b} differ: {env(*a)!r} / {env(*b)!r}")
bucket = env("garage-init", "GARAGE_BUCKET")
storage = env("tessera", "TESSERA_STORAGE_URL")
if not storage.startswith(f"s3://{bucket}?"):
    errors.append(f"TESSERA_STORAGE_URL {storage!r} is not the bucket {bucket!r}")
conf = tomllib.load(open(toml_path, "rb"))
s3_port = conf["s3_api"]["api_bind_addr"].rsplit(":", 1)[1]
admin_port = conf["admin"]["api_bind_addr"].rsplit(":", 1)[1]
if f"endpoint=http://garage:{s3_port}" not in storage:
    errors.append(f"TESSERA_STORAGE_URL does not point at garage:{s3_port}")
if env("garage-init", "GARAGE_ADMIN_URL") != f"http://garage:{admin_port}":
    errors.append(f"GARAGE_ADMIN_URL is not http://garage:{admin_port}")
for secret in ("rpc_secret", "admin_token"):
    if secret in conf or secret in conf.get("admin", {}):
        errors.append(f"garage.toml sets {secret}, which compose's environment overrides")
if "ports" in services["garage"]:
    errors.append("garage publishes ports")
if env("tessera", "TESSERA_AUTH") != "required":
    errors.append("TESSERA_AUTH must stay required")

values = {}
for service, var in [("garage-init", "GARAGE_KEY_ID"), ("garage-init", "GARAGE_SECRET"),
                     ("garage-init", "GARAGE_ADMIN_TOKEN"), ("garage", "GARAGE_RPC_SECRET")]:
    _, values[var] = default(env(service, var))
if not re.fullmatch(r"GK[0-9a-f]{24}", values["GARAGE_KEY_ID"] or ""):
    errors.append("default GARAGE_KEY_ID is not GK + 24 hex digits")
for var in ("GARAGE_SECRET", "GARAGE_RPC_SECRET"):
    if not re.fullmatch(r"[0-9a-f]{64}", values[var] or ""):
        errors.append(f"default {var} is not 64 hex digits")
if errors:
    sys.exit("\n".join(errors))
print(f"services: {', '.join(services)}; depends_on, mounts and shared values agree", file=sys.stderr)
for var, value in values.items():
    print(f"{var}='{value}'")
print(f"BUCKET='{bucket}'")
EOF
)" || die "docker/compose.yaml check failed"
eval "$DEFAULTS"
# A Compose implementation's own validation (schema, interpolation, dependencies), when one is
# installed: `docker compose` (v2) or Debian's docker-compose (v1.29). Neither needs a daemon.
if docker compose version >/dev/null 2>&1; then
    docker compose -f docker/compose.yaml config --quiet || die "docker compose config rejects docker/compose.yaml"
    log "   docker compose config: valid"
elif command -v docker-compose >/dev/null 2>&1; then
    docker-compose -f docker/compose.yaml config --quiet || die "docker-compose config rejects docker/compose.yaml"
    log "   docker-compose $(docker-compose version --short 2>/dev/null) config: valid"
else
    log "   no docker compose / docker-compose here: validated by the checks above only"
fi

# ---------------------------------------------------------------------------------------------
log "2. Garage 2.5.0 ($GARAGE) with docker/garage.toml on 127.0.0.1:$S3_PORT/$RPC_PORT/$ADMIN_PORT"
for port in "$S3_PORT" "$RPC_PORT" "$ADMIN_PORT"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "127.0.0.1:$port is in use; set COMPOSE_CHECK_*_PORT"
    fi
done
[[ -n "$STATE_DIR" && "$STATE_DIR" != "/" ]] || die "bad state dir '$STATE_DIR'"
rm -rf "$STATE_DIR"
mkdir -p "$STATE_DIR/meta" "$STATE_DIR/data"
sed -e "s#\"/var/lib/garage/meta\"#\"$STATE_DIR/meta\"#" \
    -e "s#\"/var/lib/garage/data\"#\"$STATE_DIR/data\"#" \
    -e "s#\"\[::\]:3900\"#\"127.0.0.1:$S3_PORT\"#" \
    -e "s#\"\[::\]:3901\"#\"127.0.0.1:$RPC_PORT\"#" \
    -e "s#\"127.0.0.1:3901\"#\"127.0.0.1:$RPC_PORT\"#" \
    -e "s#\"\[::\]:3903\"#\"127.0.0.1:$ADMIN_PORT\"#" \
    docker/garage.toml >"$STATE_DIR/garage.toml"
for expected in "$STATE_DIR/meta" "$STATE_DIR/data" "127.0.0.1:$S3_PORT" "127.0.0.1:$ADMIN_PORT"; do
    grep -q "\"$expected\"" "$STATE_DIR/garage.toml" \
        || die "rewriting docker/garage.toml did not set $expected (did its paths or ports change?)"
done
grep -q '\[::\]' "$STATE_DIR/garage.toml" && die "docker/garage.toml has an address this script does not rewrite"
GARAGE_RPC_SECRET="$GARAGE_RPC_SECRET" GARAGE_ADMIN_TOKEN="$GARAGE_ADMIN_TOKEN" NO_COLOR=1 \
    RUST_LOG=garage=info "$GARAGE" -c "$STATE_DIR/garage.toml" server \
    </dev/null >"$STATE_DIR/garage.log" 2>&1 &
GARAGE_PID=$!

# ---------------------------------------------------------------------------------------------
run_init() {
    local shell=(/bin/sh) path="$PATH"
    if command -v busybox >/dev/null 2>&1; then
        mkdir -p "$STATE_DIR/busybox"
        for applet in sh sed grep tr head sleep; do
            ln -sf "$(command -v busybox)" "$STATE_DIR/busybox/$applet"
        done
        shell=("$STATE_DIR/busybox/sh")
        path="$STATE_DIR/busybox:$PATH"
    fi
    log "   ${shell[*]} docker/garage-init.sh"
    PATH="$path" GARAGE_ADMIN_URL="http://127.0.0.1:$ADMIN_PORT" GARAGE_ADMIN_TOKEN="$GARAGE_ADMIN_TOKEN" \
        GARAGE_BUCKET="$BUCKET" GARAGE_KEY_ID="$GARAGE_KEY_ID" GARAGE_SECRET="$GARAGE_SECRET" \
        GARAGE_INIT_TIMEOUT=60 "${shell[@]}" docker/garage-init.sh 2>&1 | tee "$STATE_DIR/init.$1.log" >&2
    return "${PIPESTATUS[0]}"
}
log "3. docker/garage-init.sh, twice"
run_init 1 || die "garage-init.sh failed (first run)"
run_init 2 || die "garage-init.sh failed (second run)"
for what in "layout: version 1 applied" "bucket $BUCKET created" "access key $GARAGE_KEY_ID imported"; do
    grep -q "$what" "$STATE_DIR/init.1.log" || die "first run did not report: $what"
done
for what in "already has a role" "bucket $BUCKET exists" "access key $GARAGE_KEY_ID exists"; do
    grep -q "$what" "$STATE_DIR/init.2.log" || die "second run did not report: $what"
done

# ---------------------------------------------------------------------------------------------
log "4. tessera on PostgreSQL ($DB_NAME) and s3://$BUCKET with the imported key"
dropdb --if-exists --maintenance-db="$PG_SERVER/postgres" "$DB_NAME" 2>/dev/null || true
createdb --maintenance-db="$PG_SERVER/postgres" "$DB_NAME" 2>/dev/null \
    || psql -q "$PG_SERVER/postgres" -c "CREATE DATABASE $DB_NAME" >/dev/null \
    || die "could not create database $DB_NAME on $PG_SERVER"
DB_CREATED=1
AWS_ACCESS_KEY_ID="$GARAGE_KEY_ID" AWS_SECRET_ACCESS_KEY="$GARAGE_SECRET" \
    "$TESSERA_BIN" serve --listen 127.0.0.1:0 --data-dir "$STATE_DIR/tessera" \
    --database-url "$PG_SERVER/$DB_NAME" \
    --storage-url "s3://$BUCKET?endpoint=http://127.0.0.1:$S3_PORT&region=garage" \
    </dev/null >"$STATE_DIR/tessera.log" 2>&1 &
TESSERA_PID=$!
BASE=""
for _ in $(seq 1 300); do
    BASE="$(sed -n 's/^tessera: listening on \(http:[^ ]*\).*/\1/p' "$STATE_DIR/tessera.log" | head -n 1)"
    [[ -n "$BASE" ]] && break
    kill -0 "$TESSERA_PID" 2>/dev/null || die "tessera exited during startup"
    sleep 0.1
done
[[ -n "$BASE" ]] || die "tessera printed no listening line within 30 s"
log "   tessera at $BASE"

code="$(curl -sS -o "$STATE_DIR/stow.json" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/dicom' -H 'Accept: application/dicom+json' \
    --data-binary @testdata/CT_small.dcm "$BASE/dicom-web/studies")"
[[ "$code" == 200 ]] || die "STOW-RS answered $code: $(cat "$STATE_DIR/stow.json")"
URL="$(python3 -c '
import json, sys
answer = json.load(open(sys.argv[1]))
items = answer["00081199"]["Value"]
assert len(items) == 1, answer
print(items[0]["00081190"]["Value"][0])' "$STATE_DIR/stow.json")" || die "no RetrieveURL in the STOW answer"
log "   stored: $URL"
code="$(curl -sS -o "$STATE_DIR/back.dcm" -w '%{http_code}' \
    -H 'Accept: application/dicom; transfer-syntax=*' "$URL")"
[[ "$code" == 200 ]] || die "WADO-RS answered $code"
cmp testdata/CT_small.dcm "$STATE_DIR/back.dcm" || die "the retrieved instance differs from testdata/CT_small.dcm"
log "   retrieved bit-exact ($(wc -c <"$STATE_DIR/back.dcm") bytes)"

# The blob is in Garage's bucket (listed with the imported key through S3, SigV4).
code="$(curl -sS -o "$STATE_DIR/list.xml" -w '%{http_code}' \
    --aws-sigv4 "aws:amz:garage:s3" --user "$GARAGE_KEY_ID:$GARAGE_SECRET" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "http://127.0.0.1:$S3_PORT/$BUCKET?list-type=2")"
[[ "$code" == 200 ]] || die "S3 ListObjectsV2 on $BUCKET answered $code: $(cat "$STATE_DIR/list.xml")"
size="$(wc -c <testdata/CT_small.dcm | tr -d ' ')"
grep -q "<Size>$size</Size>" "$STATE_DIR/list.xml" \
    || die "no object of $size bytes in bucket $BUCKET: $(cat "$STATE_DIR/list.xml")"
log "   bucket $BUCKET holds $(grep -o '<Key>' "$STATE_DIR/list.xml" | wc -l) object(s), one of $size bytes"

log "5. stopping"
