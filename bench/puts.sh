#!/usr/bin/env bash
# What durable acknowledgement costs: back-to-back WS-Man Puts with a state
# directory, on one device and across a fleet, and Gets for comparison.
#
#   bench/puts.sh [AMTEMU_BINARY]     # default target/release/amtemu
#
# Point it at an older build to compare (the load generator is this tree's).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release/amtemu}"
load=target/release/amtemu-load
first=127.60.0.1
dir=$(mktemp -d)
trap 'kill "$fleet" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$bin" fleet --count 50 --first-address "$first" --local-port 0 --state-dir "$dir/state" >"$dir/fleet.log" 2>&1 &
fleet=$!
sleep 4
run() { echo "== $1"; shift; "$load" "$@" --first "$first" --seconds 5 | grep -E '^amtemu'; }
run "put, one device, 1 in flight" put --devices 1 --concurrency 1
run "put, one device, 16 in flight" put --devices 1 --concurrency 16
run "put, 50 devices, 50 in flight" put --devices 50 --concurrency 50
run "get, 50 devices, 50 in flight" get --devices 50 --concurrency 50
