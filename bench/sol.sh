#!/usr/bin/env bash
# N concurrent Serial-over-LAN sessions (one per device), one keystroke a
# second each by default, timing each keystroke's echo from the host.
#
#   bench/sol.sh N [SECONDS] [extra amtemu fleet flags...]
#
# The fleet runs firmware 5.2: from 6.2 on, ACM's default consent policy
# refuses redirection until a console has been through user consent.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?session count}
seconds=${2:-10}
shift $(( $# >= 2 ? 2 : 1 ))
first=${FIRST:-127.7.0.1}
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true' EXIT
AMTEMU_LOG=amtemu=warn target/release/amtemu fleet --count "$n" --firmware 5.2 --first-address "$first" \
    --ca-dir "${CA_DIR:-target/bench-ca}" --local-port 0 "$@" >"$log" 2>&1 &
pid=$!
until grep -q "ready in" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; exit 1; fi
    sleep 0.01
done
target/release/amtemu-load sol --first "$first" --devices "$n" --seconds "$seconds" ${RATE:+--rate "$RATE"}
