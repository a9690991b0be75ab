#!/usr/bin/env bash
# Install the OHIF viewer (npm's @ohif/app, which ships a built dist/) for `tessera serve
# --viewer-dir`. Nothing is built: the published package is unpacked as is.
#
#   scripts/dev/ohif.sh            install (if missing) and print the folder to pass to --viewer-dir
#
# Folder: $TESSERA_OHIF_DIR, default .cache/ohif/<version>/ in the repository (ignored by git).
# Also writes .gz siblings of the text and WebAssembly files, which Tessera serves to clients
# that accept gzip.
set -euo pipefail

VERSION="${OHIF_VERSION:-3.13.2}"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BASE="${TESSERA_OHIF_DIR:-$REPO_ROOT/.cache/ohif}"
DEST="$BASE/$VERSION"
DIST="$DEST/dist"

die() {
    echo "ohif.sh: ERROR: $*" >&2
    exit 1
}

if [[ -f "$DIST/index.html" && -f "$DEST/.complete" ]]; then
    echo "$DIST"
    exit 0
fi

command -v npm >/dev/null 2>&1 || die "npm not found (apt-get install npm)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "ohif.sh: fetching @ohif/app@$VERSION from the npm registry" >&2
(cd "$work" && npm pack --silent "@ohif/app@$VERSION" >/dev/null) || die "npm pack @ohif/app@$VERSION failed"
tarball="$(ls "$work"/ohif-app-*.tgz)"
tar -xzf "$tarball" -C "$work"
for f in index.html app-config.js; do
    [[ -f "$work/package/dist/$f" ]] || die "the package has no dist/$f: not a built viewer"
done
ls "$work"/package/dist/app.bundle.*.js >/dev/null 2>&1 || die "the package has no dist/app.bundle.*.js"

rm -rf "$DEST"
mkdir -p "$DEST"
mv "$work/package/dist" "$DIST"
cp "$work/package/package.json" "$DEST/package.json"
echo "ohif.sh: precompressing (gzip -k) scripts, styles and WebAssembly" >&2
find "$DIST" -type f \( -name '*.js' -o -name '*.css' -o -name '*.wasm' -o -name '*.html' \
    -o -name '*.svg' -o -name '*.json' \) -size +1k -print0 | xargs -0 -r -P 2 -n 16 gzip -k -6 -f
touch "$DEST/.complete"
echo "$DIST"
