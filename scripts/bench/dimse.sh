#!/usr/bin/env bash
# Tessera's DICOM port next to Orthanc's, in one run (issue 16).
#   scripts/bench/dimse.sh [REPS] [POPULATE]
# Per repetition: fresh release Tessera (SQLite + local disk, --dimse-listen) and Orthanc
# (Debian's, DICOM server on, scripts/bench/orthanc.json with the DICOM settings added), both
# pinned to core $SERVER_CPU, clients on core $CLIENT_CPU. Measured:
#   - C-STORE of a 300-slice CT (512x512x16 bit, Explicit VR Little Endian, made by
#     ct_series.py) with dcmtk's storescu: one association, then 4 associations in parallel
#     (75 slices each, another series);
#   - Tessera's STOW-RS of the same kind of series, one instance per request over one
#     keep-alive connection (curl --next), sequentially and 4 connections in parallel;
#   - C-FIND study queries (findscu --repeat, one association per query kind) on an archive
#     populated with POPULATE (default 100000) metadata-only instances by
#     `tessera-bench --workload qido --populate` into both servers.
# Figures (instances/s, ms per query) and the ratios are printed and written to
# $OUT/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS="${1:-1}"
POPULATE="${2:-100000}"
OUT="${OUT:-bench-out/dimse}"
SLICES="${SLICES:-300}"
TPORT="${TPORT:-8191}" ; TDIMSE="${TDIMSE:-11191}"
OPORT="${OPORT:-8192}" ; ODIMSE="${ODIMSE:-11192}"
FIND_REPEAT="${FIND_REPEAT:-200}"
SERVER_CPU="${SERVER_CPU:-1}"
CLIENT_CPU="${CLIENT_CPU:-0}"
DCMTK=/usr/bin  # pynetdicom's apps of the same names may come first on PATH

# shellcheck source=scripts/bench/lib.sh
. scripts/bench/lib.sh
install_orthanc dcmtk
copy_binaries
on_client() { (pin "$CLIENT_CPU" "$@"); }
now() { date +%s.%N; }
rate() { python3 -c "import sys; print(f'{int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2])):.1f}')" "$@"; }

SERIES_DIR="$(mktemp -d /tmp/dimse-ct.XXXXXX)"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
    rm -rf "${tdata:-}" "${odata:-}"
}
trap 'cleanup; rm -rf "$SERIES_DIR"' EXIT

{
    echo "date: $(date -u +%FT%TZ)"
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -m | awk '/Mem:/ {print $2}') MiB RAM"
    echo "kernel: $(uname -r)"
    echo "orthanc: $(Orthanc --version | head -1), plugin $(dpkg-query -W -f='${Version}' orthanc-dicomweb 2>/dev/null)"
    echo "dcmtk: $("$DCMTK/storescu" --version | head -1)"
    echo "tessera: $(git rev-parse --short HEAD)$(git status --porcelain | grep -q . && echo ' (dirty)')"
    echo "pinning: servers on core $SERVER_CPU, clients on core $CLIENT_CPU; $SLICES slices per series; archive of $POPULATE instances for C-FIND"
} | tee "$OUT/machine.txt"

echo "writing 6 CT series of $SLICES slices ..."
python3 scripts/bench/ct_series.py "$SERIES_DIR" 6 "$SLICES"
# s0, s1: C-STORE to Tessera (1 association; 4 in parallel), s2, s3: the same to Orthanc,
# s4, s5: STOW-RS to Tessera (sequential; 4 in parallel). The parallel series in 4 parts.
for s in s1 s3 s5; do
    i=0
    for f in "$SERIES_DIR/$s"/*.dcm; do
        mkdir -p "$SERIES_DIR/$s.part$((i % 4))"
        mv "$f" "$SERIES_DIR/$s.part$((i % 4))/"
        i=$((i + 1))
    done
done

storescu_run() { # AE PORT FOLDER...
    local aet="$1" port="$2"
    shift 2
    local started ended jobs=()
    started=$(now)
    for folder in "$@"; do
        on_client "$DCMTK/storescu" -aec "$aet" +sd -nh 127.0.0.1 "$port" "$folder" &
        jobs+=("$!")
    done
    for j in "${jobs[@]}"; do wait "$j"; done
    ended=$(now)
    rate "$SLICES" "$started" "$ended"
}
stow_run() { # FOLDER... (one curl per folder: one request per file over one connection)
    local started ended jobs=()
    started=$(now)
    for folder in "$@"; do
        args=()
        for f in "$folder"/*.dcm; do
            [ ${#args[@]} -eq 0 ] || args+=(--next)
            args+=(-sf -o /dev/null -H "Content-Type: application/dicom" --data-binary "@$f"
                "http://127.0.0.1:$TPORT/dicom-web/studies")
        done
        on_client curl "${args[@]}" &
        jobs+=("$!")
    done
    for j in "${jobs[@]}"; do wait "$j"; done
    ended=$(now)
    rate "$SLICES" "$started" "$ended"
}
find_count() { # AE PORT KEY... : how many studies the query matches
    local aet="$1" port="$2"
    shift 2
    local keys=()
    for k in "$@"; do keys+=(-k "$k"); done
    on_client "$DCMTK/findscu" -v -aec "$aet" -S -k QueryRetrieveLevel=STUDY -k StudyInstanceUID \
        "${keys[@]}" 127.0.0.1 "$port" 2>&1 | grep -c "Find Response:.*Pending" || true
}
find_ms() { # AE PORT KEY... : ms per C-FIND of this study query (FIND_REPEAT on one association)
    local aet="$1" port="$2"
    shift 2
    local keys=() started ended
    for k in "$@"; do keys+=(-k "$k"); done
    started=$(now)
    on_client "$DCMTK/findscu" -aec "$aet" -S --repeat "$FIND_REPEAT" -k QueryRetrieveLevel=STUDY \
        -k StudyInstanceUID -k PatientName -k PatientID -k StudyDate -k ModalitiesInStudy \
        "${keys[@]}" 127.0.0.1 "$port" >/dev/null 2>&1
    ended=$(now)
    python3 -c "import sys; print(f'{(float(sys.argv[2]) - float(sys.argv[1])) * 1000 / int(sys.argv[3]):.2f}')" \
        "$started" "$ended" "$FIND_REPEAT"
}

summary="$OUT/summary.txt"
: >"$summary"
for rep in $(seq 1 "$REPS"); do
    tdata="$(mktemp -d /tmp/dimse-tessera.XXXXXX)"
    odata="$(mktemp -d /tmp/dimse-orthanc.XXXXXX)"
    mkdir -p "$odata/storage" "$odata/index" "$odata/tmp"
    python3 - "$odata" "$OPORT" "$ODIMSE" <<'PY'
import json, sys
data, port, dimse = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
text = open("scripts/bench/orthanc.json").read().replace("@DATA@", data).replace("@PORT@", str(port))
config = json.loads(text)
config.update({
    "DicomServerEnabled": True, "DicomAet": "ORTHANC", "DicomPort": dimse,
    "DicomCheckCalledAet": False, "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True,
    "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True, "DicomAlwaysAllowMove": True,
})
json.dump(config, open(f"{data}/orthanc.json", "w"), indent=1)
PY
    pin "$SERVER_CPU" "$BIN" serve --listen "127.0.0.1:$TPORT" --data-dir "$tdata" \
        --dimse-listen "127.0.0.1:$TDIMSE" >"$OUT/tessera-$rep.log" 2>&1 &
    tpid=$!
    pids+=("$tpid")
    pin "$SERVER_CPU" Orthanc "$odata/orthanc.json" >"$OUT/orthanc-$rep.log" 2>&1 &
    opid=$!
    pids+=("$opid")
    wait_for "http://127.0.0.1:$TPORT/healthz"
    wait_for "http://127.0.0.1:$OPORT/system"
    echo "== repetition $rep/$REPS; load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

    t1=$(storescu_run TESSERA "$TDIMSE" "$SERIES_DIR/s0")
    o1=$(storescu_run ORTHANC "$ODIMSE" "$SERIES_DIR/s2")
    t4=$(storescu_run TESSERA "$TDIMSE" "$SERIES_DIR"/s1.part*)
    o4=$(storescu_run ORTHANC "$ODIMSE" "$SERIES_DIR"/s3.part*)
    w1=$(stow_run "$SERIES_DIR/s4")
    w4=$(stow_run "$SERIES_DIR"/s5.part*)
    echo "C-STORE inst/s: tessera $t1 (1 association), $t4 (4); orthanc $o1, $o4; STOW-RS: $w1 (1 connection), $w4 (4)"
    stored_t=$(curl -sf "http://127.0.0.1:$TPORT/dicom-web/instances?limit=5000" | python3 -c "import json,sys; print(len(json.load(sys.stdin)))")
    stored_o=$(curl -sf "http://127.0.0.1:$OPORT/statistics" | python3 -c "import json,sys; print(json.load(sys.stdin)['CountInstances'])")
    echo "stored: tessera $stored_t instances (expected $((4 * SLICES))), orthanc $stored_o (expected $((2 * SLICES)))"

    echo "populating both with $POPULATE instances for C-FIND ..."
    on_client "$BENCH" --workload qido --populate "$POPULATE" --queries 0 \
        --target "http://127.0.0.1:$TPORT/dicom-web" --target-pid "$tpid" --target-name tessera \
        --compare "http://127.0.0.1:$OPORT/dicom-web" --compare-pid "$opid" --compare-name orthanc \
        >"$OUT/populate-$rep.txt" 2>&1
    # Keys of a study in the middle of the corpus, read back over QIDO.
    read -r pid family date < <(curl -sf "http://127.0.0.1:$TPORT/dicom-web/studies?limit=1&offset=$((POPULATE / 100))&includefield=PatientName" \
        | python3 -c "import json,sys; s=json.load(sys.stdin)[0]; print(s['00100020']['Value'][0], s['00100010']['Value'][0]['Alphabetic'].split('^')[0], s['00080020']['Value'][0])")
    month="${date:0:6}"
    declare -A queries=(
        [patient-id]="PatientID=$pid"
        [name-prefix]="PatientName=${family:0:3}*"
        [date-month]="StudyDate=${month}01-${month}31"
        [modality]="ModalitiesInStudy=MR"
    )
    {
        echo "repetition $rep ($(date -u +%FT%TZ))"
        printf '%-34s %10s %10s %8s\n' "measure" "tessera" "orthanc" "ratio"
        printf '%-34s %10s %10s %8s\n' "C-STORE 1 association (inst/s)" "$t1" "$o1" "$(python3 -c "print(f'{$t1/$o1:.2f}')")"
        printf '%-34s %10s %10s %8s\n' "C-STORE 4 associations (inst/s)" "$t4" "$o4" "$(python3 -c "print(f'{$t4/$o4:.2f}')")"
        printf '%-34s %10s %10s %8s\n' "STOW-RS 1 connection (inst/s)" "$w1" "-" "C-STORE/STOW $(python3 -c "print(f'{$t1/$w1:.2f}')")"
        printf '%-34s %10s %10s %8s\n' "STOW-RS 4 connections (inst/s)" "$w4" "-" "C-STORE/STOW $(python3 -c "print(f'{$t4/$w4:.2f}')")"
        for kind in patient-id name-prefix date-month modality; do
            tq=$(find_ms TESSERA "$TDIMSE" "${queries[$kind]}")
            oq=$(find_ms ORTHANC "$ODIMSE" "${queries[$kind]}")
            tn=$(find_count TESSERA "$TDIMSE" "${queries[$kind]}")
            on=$(find_count ORTHANC "$ODIMSE" "${queries[$kind]}")
            printf '%-34s %10s %10s %8s   matches: tessera %s, orthanc %s\n' "C-FIND $kind (ms/query)" "$tq" "$oq" \
                "$(python3 -c "print(f'{$oq/$tq:.1f}x')")" "$tn" "$on"
        done
        grep -i "populate" "$OUT/populate-$rep.txt" | head -4 || true
    } | tee -a "$summary"
    cleanup
done
