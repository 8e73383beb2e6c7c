#!/usr/bin/env bash
# The dashboard with a large fleet: how long headless Chromium takes to show
# the fleet view's first page with its counts, how long a filter over the
# whole fleet takes, and the browser's memory (the page's JS heap, and the
# proportional set size of all of Chromium's processes).
#
#   bench/dashboard.sh [N]        # N devices, default 100000
#
# Needs `cargo build --release --bin amtemu` and tests/clients/install.sh
# (Debian chromium, playwright-core). Uses one shared listener per port
# (--shared-listener) since N devices would need more sockets than the
# file-descriptor limit allows. Prints the driver's JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
bin=${BIN:-target/release}
first=${FIRST:-127.3.0.1}
control=${CONTROL:-127.0.0.1:17900}
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true' EXIT
"$bin/amtemu" fleet --count "$n" --first-address "$first" --ca-dir "${CA_DIR:-target/bench-ca}" \
    --shared-listener --http-port 24992 --https-port 24993 --redirection-port 24994 \
    --redirection-tls-port 24995 --vnc-port 0 --local-port 0 --firmware 11.8,6.2,16.1 \
    --control "$control" >"$log" 2>&1 &
pid=$!
until grep -q "ready in" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; exit 1; fi
    sleep 0.1
done
grep -o 'ready in [0-9]* ms' "$log" || true
# A few devices faulted, so the counts have something to show.
curl -s -X PUT -H 'Content-Type: application/json' \
    --data '{"plan": {"http_error": 503}, "share": 0.001, "seed": 1}' \
    "http://$control/api/v1/faults" >/dev/null
# The same request as the page's first one, timed on its own.
curl -s -o /dev/null -w 'api: GET /api/v1/devices?counts=true&limit=100 %{time_total}s\n' \
    "http://$control/api/v1/devices?offset=0&limit=100&counts=true"
for round in 1 2 3; do
    echo -n "round $round: "
    node tests/clients/dashboard.js "http://$control" load | tail -n 1
done
echo "amtemu rss_mb $(awk '$1 == "VmRSS:" {printf "%.1f", $2/1024}' "/proc/$pid/status")"
