#!/usr/bin/env bash
# Azurite, Microsoft's Azure Storage emulator (npm), as the Azure Blob store of the tests, on loopback.
#
#   scripts/test/azurite.sh start [--fresh]   install its npm packages if needed, start the blob service
#                                        (telemetry off), create the test container, write <dir>/env
#   scripts/test/azurite.sh stop              stop it (by pid), wait until its port is closed
#   scripts/test/azurite.sh status            "running pid N at URL" (exit 0) or "not running" (exit 3)
#   scripts/test/azurite.sh env               print the env file (export lines; source or eval it)
#
# Settings (environment):
#   TESSERA_AZURITE_DIR     state dir: data/, server.pid, server.log, env   (default /tmp/tessera-azurite)
#   TESSERA_AZURITE_PORT    port on 127.0.0.1                                 (default 10100)
#   TESSERA_AZURITE_CACHE   where the npm packages are installed, one dir per hash of
#                           tests/support/azurite/package{,-lock}.json     (default ~/.cache/tessera/azurite)
#
# The env file holds TESSERA_TEST_AZURE_ENDPOINT (http://127.0.0.1:<port>/devstoreaccount1),
# TESSERA_TEST_AZURE_CONTAINER, and AZURE_STORAGE_ACCOUNT_NAME / AZURE_STORAGE_ACCOUNT_KEY: the
# emulator's well-known development account, published by Microsoft, not a secret.
# Needs node >= 20.19 and npm (the npm registry), curl.
# shellcheck disable=SC2034  # the settings below are read by node-server.sh
set -euo pipefail

SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT")/../.." && pwd)"
# shellcheck source=SCRIPTDIR/node-server.sh
. "$(dirname "$SCRIPT")/node-server.sh"

ACCOUNT="devstoreaccount1"
ACCOUNT_KEY="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER="tessera-test"

SERVER_NAME="Azurite"
SRC_DIR="$REPO_ROOT/tests/support/azurite"
SERVER_ENTRY="azurite/dist/src/blob/main.js"
STATE_DIR="${TESSERA_AZURITE_DIR:-/tmp/tessera-azurite}"
PORT="${TESSERA_AZURITE_PORT:-10100}"
PORT_VAR="TESSERA_AZURITE_PORT"
CACHE_DIR="${TESSERA_AZURITE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/azurite}"
DATA_DIR="$STATE_DIR/data"
ENDPOINT="http://127.0.0.1:$PORT/$ACCOUNT"
SERVER_URL="$ENDPOINT"
# An unsigned request: the blob service answers it, refused (403), once it is up.
READY_URL="$ENDPOINT?comp=list"
READY_STATUS=403
START_DETAIL="data $DATA_DIR"

write_env_vars() {
    printf 'export TESSERA_TEST_AZURE_ENDPOINT=%q\n' "$ENDPOINT"
    printf 'export TESSERA_TEST_AZURE_CONTAINER=%q\n' "$CONTAINER"
    printf 'export AZURE_STORAGE_ACCOUNT_NAME=%q\n' "$ACCOUNT"
    printf 'export AZURE_STORAGE_ACCOUNT_KEY=%q\n' "$ACCOUNT_KEY"
}

on_fresh() {
    [[ -n "$DATA_DIR" && "$DATA_DIR" != "/" ]] || die "refusing to wipe '$DATA_DIR'"
    log "--fresh: wiping $DATA_DIR"
    rm -rf "$DATA_DIR"
}

before_start() { mkdir -p "$DATA_DIR"; }

after_start() {
    node "$SRC_DIR/create-container.mjs" "$ENDPOINT" "$ACCOUNT" "$ACCOUNT_KEY" "$CONTAINER" ||
        fail_started "could not create the container $CONTAINER"
}

exec_server() {
    exec nohup node "$DEPS_DIR/node_modules/azurite/dist/src/blob/main.js" \
        --blobHost 127.0.0.1 --blobPort "$PORT" --location "$DATA_DIR" \
        --disableTelemetry --skipApiVersionCheck --loose --silent
}

node_server_main "$@"
