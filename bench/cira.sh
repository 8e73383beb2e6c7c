#!/usr/bin/env bash
# N devices call home to amtemu-load's MPS: starts `amtemu fleet --count N`,
# has `amtemu-load cira` configure every device over WS-Man, accept every
# tunnel and time WS-Man Gets through them and directly, and reads the
# fleet's RSS before and after (per tunnel). Ports are moved off the
# standard ones as in the other scripts.
#
#   bench/cira.sh N [extra amtemu fleet flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?device count}
shift
first=${FIRST:-127.7.0.1}
export AMTEMU_LOG=${AMTEMU_LOG:-amtemu=warn}
log=$(mktemp)
target/release/amtemu fleet --count "$n" --first-address "$first" \
    --ca-dir "${CA_DIR:-target/bench-ca}" \
    --http-port 23992 --https-port 23993 --redirection-port 23994 --redirection-tls-port 23995 --local-port 0 \
    "$@" >"$log" 2>&1 &
fleet=$!
trap 'kill $fleet 2>/dev/null || true; rm -f "$log"' EXIT
# Wait until the fleet says it is ready.
for _ in $(seq 600); do
    grep -q "ready in" "$log" && break
    sleep 0.2
done
target/release/amtemu-load cira --first "$first" --devices "$n" --port 23992 \
    --listen "${MPS:-127.7.255.254:4433}" --gets "${GETS:-10}" \
    --timeout-seconds "${TIMEOUT:-300}" --pid "$fleet" --json
