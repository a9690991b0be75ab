#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ (cargo-fuzz, coverage-guided, AddressSanitizer) one after
# the other, each for N seconds: the multipart reader of STOW-RS, the Accept, Range and QIDO
# query parsers, the Part 10 walk and frame locator, the character set decoder and what ingest
# does with a file (parse, extract, DICOM JSON and XML). scripts/fuzz.sh runs the property
# tests instead, on stable.
#
# Usage: scripts/fuzz-libfuzzer.sh [--seconds N] [--merge] [TARGET...]
#   --seconds N  time per target (default 60)
#   --merge      then add what the run found that covers new code to fuzz/corpus/TARGET
#                (libFuzzer's -merge=1: the kept corpus, replayed by tests/fuzz_corpus.rs)
#   TARGET...    some targets only (default: all, as `cargo fuzz list` names them)
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz (`cargo
# install cargo-fuzz`). Each run starts from fuzz/corpus/TARGET and keeps what it finds in
# target/fuzz-corpus/TARGET (not committed). A crash leaves its input in
# fuzz/artifacts/TARGET/ and makes the script exit 1 after the remaining targets; replay one
# with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...`, and once fixed copy it
# into fuzz/corpus/TARGET/ so that the stable test command keeps replaying it.
set -euo pipefail

cd "$(dirname "$0")/.."

seconds=60
merge=false
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
        --merge) merge=true; shift ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "fuzz-libfuzzer.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
case "$seconds" in
    '' | *[!0-9]*) echo "fuzz-libfuzzer.sh: --seconds wants a number, not $seconds" >&2; exit 2 ;;
esac
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz-libfuzzer.sh: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz-libfuzzer.sh: cargo-fuzz is missing (cargo install cargo-fuzz)" >&2
    exit 2
fi
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

cargo +nightly fuzz build
failed=()
summary=()
for target in "${targets[@]}"; do
    work="target/fuzz-corpus/$target"
    mkdir -p "$work" "fuzz/corpus/$target"
    log="target/fuzz-corpus/$target.log"
    echo "fuzz-libfuzzer.sh: $target for $seconds s"
    # -timeout: an input taking over 10 s is a finding (a hang), not patience.
    # -malloc_limit_mb: so is one allocation of over 256 MB for an input of a few KB (a length
    # field believed); libFuzzer's default lets anything under 2 GB pass.
    if ! cargo +nightly fuzz run "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -malloc_limit_mb=256 -print_final_stats=1 \
        >"$log" 2>&1; then
        failed+=("$target")
        tail -n 40 "$log"
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    corpus=$(find "$work" -type f | wc -l)
    summary+=("$target: ${runs:-?} executions, ${rate:-?} per second, $corpus inputs in $work")
    if $merge; then
        cargo +nightly fuzz run "$target" "fuzz/corpus/$target" "$work" -- -merge=1 \
            >>"$log" 2>&1
    fi
done
printf 'fuzz-libfuzzer.sh: %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz-libfuzzer.sh: crashed: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz-libfuzzer.sh: no crash in ${#targets[@]} targets, $seconds s each"
