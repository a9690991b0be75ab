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
# shellcheck disable=SC2034  # the settings below are read by node-server.sh
set -euo pipefail

SCRIPT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SCRIPT")/../.." && pwd)"
# shellcheck source=SCRIPTDIR/node-server.sh
. "$(dirname "$SCRIPT")/node-server.sh"

SERVER_NAME="the OpenID provider"
SRC_DIR="$REPO_ROOT/tests/support/oidc-provider"
SERVER_ENTRY="oidc-provider/server.mjs"
STATE_DIR="${TESSERA_OIDC_DIR:-/tmp/tessera-oidc}"
PORT="${TESSERA_OIDC_PORT:-18091}"
PORT_VAR="TESSERA_OIDC_PORT"
CACHE_DIR="${TESSERA_OIDC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/oidc-provider}"
KEYS_FILE="$STATE_DIR/keys.json"
ISSUER="http://127.0.0.1:$PORT"
SERVER_URL="$ISSUER"
READY_URL="$ISSUER/.well-known/openid-configuration"
START_DETAIL="state $STATE_DIR"
# What server.mjs configures (tests/support/oidc-provider/server.mjs).
AUDIENCE="http://tessera.test/dicom-web"
UP_DETAIL=", audience $AUDIENCE"

write_env_vars() {
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
}

on_fresh() {
    log "--fresh: new signing keys (removing $KEYS_FILE)"
    rm -f "$KEYS_FILE"
}

exec_server() {
    exec nohup node "$SRC_DIR/server.mjs" --host 127.0.0.1 --port "$PORT" --state-dir "$STATE_DIR" \
        --modules "$DEPS_DIR/node_modules"
}

node_server_main "$@"
