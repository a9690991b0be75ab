#!/usr/bin/env bash
# The single test command of Tessera.
#
# Starts what the tests need (PostgreSQL on 127.0.0.1:5432, a single-node Garage S3 server
# on loopback via scripts/test/garage.sh, a FHIR R4 server on loopback via scripts/test/fhir-server.sh,
# an OpenID provider on loopback via scripts/test/oidc.sh, Azurite as the Azure Blob store via
# scripts/test/azurite.sh), then runs, in order:
#   cargo fmt --check, cargo clippy -D warnings, the import-direction check
#   (scripts/dev/check-imports.py), cargo test (every crate of the workspace, including
#   the bench's smoke runs), the compose file's check (scripts/dev/compose-check.sh),
#   pytest on tests/python
#   (only if that directory exists), and the browser end-to-end test (tests/browser/run.sh:
#   installs chromium, playwright-core and the OHIF viewer when missing).
# Exits non-zero on the first failure. Garage, the FHIR server, the OpenID provider and Azurite are
# stopped on exit.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# cargo-installed tools (rustup's cargo, garage) live here.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
export TESSERA_GARAGE_DIR="${TESSERA_GARAGE_DIR:-/tmp/tessera-garage}"
export TESSERA_FHIR_DIR="${TESSERA_FHIR_DIR:-/tmp/tessera-fhir}"
export TESSERA_OIDC_DIR="${TESSERA_OIDC_DIR:-/tmp/tessera-oidc}"
export TESSERA_AZURITE_DIR="${TESSERA_AZURITE_DIR:-/tmp/tessera-azurite}"

section() {
    echo
    echo "=================================================================="
    echo "== $*"
    echo "=================================================================="
}
die() {
    echo "test.sh: ERROR: $*" >&2
    exit 1
}

on_exit() {
    local rc=$?
    trap - EXIT
    if [[ -n "${GARAGE_STARTED:-}" ]]; then
        section "Stopping Garage"
        "$REPO_ROOT/scripts/test/garage.sh" stop || echo "test.sh: WARNING: could not stop Garage" >&2
    fi
    if [[ -n "${FHIR_STARTED:-}" ]]; then
        section "Stopping the FHIR server"
        "$REPO_ROOT/scripts/test/fhir-server.sh" stop || echo "test.sh: WARNING: could not stop the FHIR server" >&2
    fi
    if [[ -n "${AZURITE_STARTED:-}" ]]; then
        section "Stopping Azurite"
        "$REPO_ROOT/scripts/test/azurite.sh" stop || echo "test.sh: WARNING: could not stop Azurite" >&2
    fi
    if [[ -n "${OIDC_STARTED:-}" ]]; then
        section "Stopping the OpenID provider"
        "$REPO_ROOT/scripts/test/oidc.sh" stop || echo "test.sh: WARNING: could not stop the OpenID provider" >&2
    fi
    echo
    if [[ $rc -eq 0 ]]; then
        echo "test.sh: ALL STEPS PASSED"
    else
        echo "test.sh: FAILED (exit $rc)" >&2
    fi
    exit "$rc"
}
trap on_exit EXIT

# ---------------------------------------------------------------------------
section "PostgreSQL (127.0.0.1:5432)"
command -v pg_isready >/dev/null 2>&1 || die "pg_isready not found: PostgreSQL is not installed"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    echo "PostgreSQL is not answering; starting it"
    [[ -d /etc/postgresql ]] || die "/etc/postgresql does not exist: no PostgreSQL cluster to start"
    started=0
    for ver_dir in /etc/postgresql/*/; do
        ver="$(basename "$ver_dir")"
        [[ -d "/etc/postgresql/$ver/main" ]] || continue
        echo "pg_ctlcluster --skip-systemctl-redirect $ver main start"
        pg_ctlcluster --skip-systemctl-redirect "$ver" main start \
            || echo "test.sh: WARNING: pg_ctlcluster $ver main start failed" >&2
        started=1
    done
    [[ $started -eq 1 ]] || die "no PostgreSQL cluster named 'main' under /etc/postgresql"
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && break
        sleep 1
    done
fi
pg_isready -h 127.0.0.1 -p 5432 || die "PostgreSQL is not accepting connections on 127.0.0.1:5432"
export TESSERA_TEST_POSTGRES_URL="${TESSERA_TEST_POSTGRES_URL:-postgres://root@127.0.0.1:5432/postgres}"
echo "TESSERA_TEST_POSTGRES_URL=$TESSERA_TEST_POSTGRES_URL"

# ---------------------------------------------------------------------------
section "Garage S3 server (scripts/test/garage.sh start)"
GARAGE_STARTED=1
"$REPO_ROOT/scripts/test/garage.sh" start
GARAGE_ENV="$TESSERA_GARAGE_DIR/env"
[[ -f "$GARAGE_ENV" ]] || die "garage.sh start did not write $GARAGE_ENV"
# shellcheck source=/dev/null
. "$GARAGE_ENV"
for v in TESSERA_TEST_S3_ENDPOINT TESSERA_TEST_S3_BUCKET AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY \
    AWS_REGION AWS_DEFAULT_REGION AWS_ALLOW_HTTP; do
    [[ -n "${!v:-}" ]] || die "$v not set by $GARAGE_ENV"
done
echo "TESSERA_TEST_S3_ENDPOINT=$TESSERA_TEST_S3_ENDPOINT TESSERA_TEST_S3_BUCKET=$TESSERA_TEST_S3_BUCKET"

# ---------------------------------------------------------------------------
section "FHIR R4 test server (scripts/test/fhir-server.sh start --fresh)"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "node or npm not found; installing them from Debian's packages"
    { apt-get update -q && apt-get install -y -q nodejs npm; } || die "could not install nodejs and npm"
fi
echo "node $(node --version), npm $(npm --version)"
FHIR_STARTED=1
"$REPO_ROOT/scripts/test/fhir-server.sh" start --fresh || die "the FHIR test server did not start"
FHIR_ENV="$TESSERA_FHIR_DIR/env"
[[ -f "$FHIR_ENV" ]] || die "fhir-server.sh start did not write $FHIR_ENV"
# shellcheck source=/dev/null
. "$FHIR_ENV"
for v in TESSERA_TEST_FHIR_URL TESSERA_TEST_FHIR_SERVER_SCRIPT TESSERA_FHIR_DIR TESSERA_FHIR_PORT; do
    [[ -n "${!v:-}" ]] || die "$v not set by $FHIR_ENV"
done
export TESSERA_TEST_FHIR_URL TESSERA_TEST_FHIR_SERVER_SCRIPT TESSERA_FHIR_DIR TESSERA_FHIR_PORT
echo "TESSERA_TEST_FHIR_URL=$TESSERA_TEST_FHIR_URL"

# ---------------------------------------------------------------------------
section "OpenID provider (scripts/test/oidc.sh start --fresh)"
OIDC_STARTED=1
"$REPO_ROOT/scripts/test/oidc.sh" start --fresh || die "the OpenID provider did not start"
OIDC_ENV="$TESSERA_OIDC_DIR/env"
[[ -f "$OIDC_ENV" ]] || die "oidc.sh start did not write $OIDC_ENV"
# shellcheck source=/dev/null
. "$OIDC_ENV"
for v in TESSERA_TEST_OIDC_ISSUER TESSERA_TEST_OIDC_AUDIENCE TESSERA_TEST_OIDC_VIEWER_CLIENT \
    TESSERA_TEST_OIDC_SCRIPT_CLIENT TESSERA_TEST_OIDC_SCRIPT_SECRET TESSERA_TEST_OIDC_READER_CLIENT \
    TESSERA_TEST_OIDC_READER_SECRET TESSERA_TEST_OIDC_SCRIPT TESSERA_OIDC_DIR TESSERA_OIDC_PORT; do
    [[ -n "${!v:-}" ]] || die "$v not set by $OIDC_ENV"
done
echo "TESSERA_TEST_OIDC_ISSUER=$TESSERA_TEST_OIDC_ISSUER TESSERA_TEST_OIDC_AUDIENCE=$TESSERA_TEST_OIDC_AUDIENCE"

# ---------------------------------------------------------------------------
section "Azurite, the Azure Blob store (scripts/test/azurite.sh start --fresh)"
AZURITE_STARTED=1
"$REPO_ROOT/scripts/test/azurite.sh" start --fresh || die "Azurite did not start"
AZURITE_ENV="$TESSERA_AZURITE_DIR/env"
[[ -f "$AZURITE_ENV" ]] || die "azurite.sh start did not write $AZURITE_ENV"
# shellcheck source=/dev/null
. "$AZURITE_ENV"
for v in TESSERA_TEST_AZURE_ENDPOINT TESSERA_TEST_AZURE_CONTAINER AZURE_STORAGE_ACCOUNT_NAME \
    AZURE_STORAGE_ACCOUNT_KEY; do
    [[ -n "${!v:-}" ]] || die "$v not set by $AZURITE_ENV"
done
echo "TESSERA_TEST_AZURE_ENDPOINT=$TESSERA_TEST_AZURE_ENDPOINT TESSERA_TEST_AZURE_CONTAINER=$TESSERA_TEST_AZURE_CONTAINER"

# ---------------------------------------------------------------------------
section "Python test requirements (pip install -r scripts/test/requirements.txt)"
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    -r scripts/test/requirements.txt

# ---------------------------------------------------------------------------
section "DICOM peers (dcmtk from Debian: echoscu, storescu, findscu, movescu, getscu, storescp)"
if [[ ! -x /usr/bin/storescu || ! -x /usr/bin/storescp || ! -x /usr/bin/getscu ]]; then
    echo "dcmtk not found; installing it from Debian's packages"
    { apt-get update -q && apt-get install -y -q dcmtk; } || die "could not install dcmtk"
fi
# sed reads it all: head would stop echoscu with SIGPIPE, which pipefail turns into a failure.
/usr/bin/echoscu --version | sed -n 1p

# ---------------------------------------------------------------------------
section "FUSE (libfuse2 from Debian, for fusepy: the power-loss test's file system)"
if ! ldconfig -p | grep -q 'libfuse\.so\.2'; then
    echo "libfuse2 not found; installing it from Debian's packages"
    { apt-get update -q && apt-get install -y -q libfuse2; } || die "could not install libfuse2"
fi
[[ -e /dev/fuse ]] || die "/dev/fuse is missing: the power-loss test needs FUSE"

# ---------------------------------------------------------------------------
section "Build tools (cmake: CharLS, for the jpeg-ls feature that --all-features builds)"
if ! command -v cmake >/dev/null 2>&1; then
    echo "cmake not found; installing it from Debian's packages"
    { apt-get update -q && apt-get install -y -q cmake; } || die "could not install cmake"
fi
cmake --version | head -1

# ---------------------------------------------------------------------------
section "cargo fmt --all -- --check"
cargo fmt --all -- --check

section "cargo clippy --workspace --all-targets --all-features -- -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

section "Imports point down: no import circle across folders (scripts/dev/check-imports.py)"
python3 scripts/dev/check-imports.py --graph

section "Dropping test databases left by earlier runs"
psql -q -h 127.0.0.1 -p 5432 -d postgres -At \
    -c "SELECT datname FROM pg_database WHERE datname LIKE 'tessera_t_%'" |
    while read -r db; do psql -q -h 127.0.0.1 -p 5432 -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null; done

section "cargo test --workspace --all-features"
cargo test --workspace --all-features

section "The compose stack's init step against a real Garage, and Tessera through it (scripts/dev/compose-check.sh)"
scripts/dev/compose-check.sh

# ---------------------------------------------------------------------------
if [[ -d tests/python ]]; then
    section "python3 -m pytest -q tests/python"
    rc=0
    python3 -m pytest -q tests/python || rc=$?
    if [[ $rc -eq 5 ]]; then
        die "pytest collected no tests in tests/python (exit 5); an empty suite is a failure"
    elif [[ $rc -ne 0 ]]; then
        die "pytest failed (exit $rc)"
    fi
else
    section "pytest: skipped (no tests/python directory)"
fi

# ---------------------------------------------------------------------------
section "Browser end-to-end: OHIF and the built-in page in headless chromium (tests/browser/run.sh)"
tests/browser/run.sh || die "browser end-to-end test failed (screenshots in target/browser-artifacts)"
