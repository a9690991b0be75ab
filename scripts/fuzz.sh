#!/usr/bin/env bash
# Runs the hostile-input property tests (issue 17) with many more cases than `cargo test`
# does (256 per property): the Part 10 walk and frame locator, the parser and
# extractor, the character set decoder and the DICOM JSON writer (crates/tessera-dicom), the
# Accept, Range, media type and path parsers and the QIDO query parser (crates/tessera).
#
# Usage: scripts/fuzz.sh [--cases N] [--seed N] [--release]
#   --cases N   cases per property (default: $PROPTEST_CASES, else 20000)
#   --seed N    a fixed random seed (PROPTEST_RNG_SEED), to run the same cases again
#   --release   optimised build with overflow checks kept on (faster; same findings)
# A failure prints the property and its minimal failing input; with --seed, a run repeats.
set -euo pipefail

cd "$(dirname "$0")/.."

cases="${PROPTEST_CASES:-20000}"
seed=""
profile=()
while [ $# -gt 0 ]; do
    case "$1" in
        --cases) cases="${2:?--cases needs a number}"; shift 2 ;;
        --seed) seed="${2:?--seed needs a number}"; shift 2 ;;
        --release)
            profile=(--release)
            export CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=true
            shift
            ;;
        -h | --help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "fuzz.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$cases" in
    '' | *[!0-9]*) echo "fuzz.sh: --cases wants a positive number, not $cases" >&2; exit 2 ;;
esac

export PROPTEST_CASES="$cases"
if [ -n "$seed" ]; then
    export PROPTEST_RNG_SEED="$seed"
fi

run() {
    echo "fuzz.sh: PROPTEST_CASES=$PROPTEST_CASES${seed:+ PROPTEST_RNG_SEED=$seed} $*"
    local started=$SECONDS
    "$@"
    echo "fuzz.sh: done in $((SECONDS - started)) s: $*"
}

# Every property test module is named `proptests`: charset, extract, json, layout::tests.
run cargo test "${profile[@]}" -p tessera-dicom --lib proptests
# http::{accept,media,path,range}::proptests and query::parse::proptests.
run cargo test "${profile[@]}" -p tessera --all-features --lib proptests
echo "fuzz.sh: every property held for $PROPTEST_CASES cases"
