#!/usr/bin/env bash
# Builds the dashboard's browser libraries from the pinned lock file into
# vendor/, which is committed: building amtemu needs neither npm nor a
# network, and the binary embeds vendor/ (emulator/server/src/control/dashboard.rs).
#
#   emulator/server/dashboard/build.sh           # npm ci, then write vendor/
#   emulator/server/dashboard/build.sh OUT_DIR   # write the files to OUT_DIR instead
#                                                # (tests/dashboard.rs compares them with vendor/)
#
# Run it after changing package.json (then `npm install --package-lock-only`
# to update the lock) and commit vendor/ with the lock. Needs node and npm
# and the npm registry (or a warm npm cache).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${1:-$HERE/vendor}"
# node_modules goes outside the source tree unless told otherwise.
WORK="${DASHBOARD_BUILD_DIR:-${TMPDIR:-/tmp}/amtemu-dashboard-build}"

mkdir -p "$WORK" "$OUT"
cp "$HERE/package.json" "$HERE/package-lock.json" "$WORK/"
(cd "$WORK" && npm ci --no-audit --no-fund --loglevel=error >&2)
NM="$WORK/node_modules"

# One ES module each, minified; esbuild's output depends only on its
# version and the inputs, so the same lock gives the same bytes.
"$NM/.bin/esbuild" "$NM/@xterm/xterm/lib/xterm.mjs" --bundle --format=esm --minify \
    --legal-comments=none --log-level=warning --outfile="$OUT/xterm.js"
"$NM/.bin/esbuild" "$NM/@novnc/novnc/core/rfb.js" --bundle --format=esm --minify \
    --legal-comments=none --log-level=warning --outfile="$OUT/novnc-rfb.js"
cp "$NM/@xterm/xterm/css/xterm.css" "$OUT/xterm.css"

# The licenses travel with the code (noVNC's core is MPL-2.0, its pako
# inflater MIT; xterm.js is MIT).
cp "$NM/@xterm/xterm/LICENSE" "$OUT/LICENSE-xterm.txt"
{
    cat "$NM/@novnc/novnc/LICENSE.txt"
    printf '\n\n==== docs/LICENSE.MPL-2.0 ====\n\n'
    cat "$NM/@novnc/novnc/docs/LICENSE.MPL-2.0"
    printf '\n\n==== vendor/pako/LICENSE ====\n\n'
    cat "$NM/@novnc/novnc/vendor/pako/LICENSE"
} >"$OUT/LICENSE-novnc.txt"
printf 'xterm %s, noVNC %s, built with esbuild %s\n' \
    "$(node -p "require('$NM/@xterm/xterm/package.json').version")" \
    "$(node -p "require('$NM/@novnc/novnc/package.json').version")" \
    "$(node -p "require('$NM/esbuild/package.json').version")" >"$OUT/VERSIONS.txt"
echo "build.sh: wrote $(ls "$OUT" | tr '\n' ' ')" >&2
