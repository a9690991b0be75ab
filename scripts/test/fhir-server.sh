#!/usr/bin/env bash
# The FHIR R4 server that Tessera's FHIR push tests send to (tests/support/fhir-server), on loopback.
#
#   scripts/test/fhir-server.sh start [--fresh]   install its npm packages if needed, start it (keeps the data
#                                            of an earlier run; --fresh wipes it), wait until
#                                            GET <base>/metadata answers, write <dir>/env
#   scripts/test/fhir-server.sh stop              stop it (by pid), wait until its port is closed
#   scripts/test/fhir-server.sh status            "running pid N at URL" (exit 0) or "not running" (exit 3)
#   scripts/test/fhir-server.sh env               print the env file (export lines; source or eval it)
#
# Settings (environment):
#   TESSERA_FHIR_DIR     state dir: data/, server.pid, server.log, env   (default /tmp/tessera-fhir)
#   TESSERA_FHIR_PORT    port on 127.0.0.1                                 (default 18090)
#   TESSERA_FHIR_CACHE   where the npm packages are installed, one dir per hash of
#                        tests/support/fhir-server/package{,-lock}.json           (default ~/.cache/tessera/fhir-server)
#
# The env file holds TESSERA_TEST_FHIR_URL (http://127.0.0.1:<port>/fhir),
# TESSERA_TEST_FHIR_SERVER_SCRIPT (this script's absolute path), TESSERA_FHIR_DIR and TESSERA_FHIR_PORT,
# so that a test can stop and start this same instance.
# Needs node >= 20.19 and npm (the npm registry), curl.
# shellcheck disable=SC2034  # the settings below are read by node-server.sh
set -euo pipefail

SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT")/../.." && pwd)"
# shellcheck source=SCRIPTDIR/node-server.sh
. "$(dirname "$SCRIPT")/node-server.sh"

SERVER_NAME="the FHIR server"
SRC_DIR="$REPO_ROOT/tests/support/fhir-server"
SERVER_ENTRY="fhir-server/server.js"
STATE_DIR="${TESSERA_FHIR_DIR:-/tmp/tessera-fhir}"
PORT="${TESSERA_FHIR_PORT:-18090}"
PORT_VAR="TESSERA_FHIR_PORT"
CACHE_DIR="${TESSERA_FHIR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/fhir-server}"
DATA_DIR="$STATE_DIR/data"
BASE_URL="http://127.0.0.1:$PORT/fhir"
SERVER_URL="$BASE_URL"
READY_URL="$BASE_URL/metadata"
START_DETAIL="data $DATA_DIR"

write_env_vars() {
    printf 'export TESSERA_TEST_FHIR_URL=%q\n' "$BASE_URL"
    printf 'export TESSERA_TEST_FHIR_SERVER_SCRIPT=%q\n' "$SCRIPT"
    printf 'export TESSERA_FHIR_DIR=%q\n' "$STATE_DIR"
    printf 'export TESSERA_FHIR_PORT=%q\n' "$PORT"
}

on_fresh() {
    [[ -n "$DATA_DIR" && "$DATA_DIR" != "/" ]] || die "refusing to wipe '$DATA_DIR'"
    log "--fresh: wiping $DATA_DIR"
    rm -rf "$DATA_DIR"
}

before_start() { mkdir -p "$DATA_DIR"; }

exec_server() {
    NODE_PATH="$DEPS_DIR/node_modules" exec nohup node --max-old-space-size=768 "$SRC_DIR/server.js" \
        --host 127.0.0.1 --port "$PORT" --data-dir "$DATA_DIR" --cache-dir "$DEPS_DIR"
}

node_server_main "$@"
