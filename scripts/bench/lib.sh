# Shared by the side-by-side benchmarks (vs-orthanc.sh, dimse.sh); sourced, not run.

ORTHANC_PLUGIN=/usr/share/orthanc/plugins/libOrthancDicomWeb.so

# Install Debian's Orthanc and its DICOMweb plugin (and any further packages named) when
# missing, without letting the package start its own service; stop that service if it runs.
install_orthanc() {
    local missing=""
    command -v Orthanc >/dev/null && [ -f "$ORTHANC_PLUGIN" ] || missing=1
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing=1
    done
    if [ -n "$missing" ]; then
        echo "installing Orthanc, its DICOMweb plugin $* from Debian ..."
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        local made_policy=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
            $sudo chmod +x /usr/sbin/policy-rc.d
            made_policy=1
        fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq orthanc orthanc-dicomweb "$@"
        [ -z "$made_policy" ] || $sudo rm -f /usr/sbin/policy-rc.d
    fi
    # The Debian service would only hold port 8042 and the DICOM port; stop it so it takes
    # no CPU during the run.
    if command -v systemctl >/dev/null && systemctl is-active --quiet orthanc 2>/dev/null; then
        systemctl stop orthanc || true
    fi
}

# Private copies of the server and the load generator in $OUT (TESSERA_BIN and
# TESSERA_BENCH_BIN: built already, skips the build): the target folder may be shared with
# other checkouts whose builds would replace them during the run. Sets BIN and BENCH.
copy_binaries() {
    if [ -z "${TESSERA_BIN:-}" ] || [ -z "${TESSERA_BENCH_BIN:-}" ]; then
        cargo build --release --quiet -p tessera -p tessera-bench
    fi
    mkdir -p "$OUT"
    BIN="$OUT/tessera"
    BENCH="$OUT/tessera-bench"
    cp "${TESSERA_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera}" "$BIN"
    cp "${TESSERA_BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/tessera-bench}" "$BENCH"
}

# exec: started with `pin ... &`, the background subshell becomes the program itself, so $!
# is the program's pid (its /proc figures), not a shell's.
pin() {
    local cpu="$1"
    shift
    if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
        exec taskset -c "$cpu" "$@"
    else
        exec "$@"
    fi
}

wait_for() {
    for _ in $(seq 1 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
    echo "not answering: $1" >&2
    return 1
}
