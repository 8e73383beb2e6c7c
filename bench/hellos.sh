#!/usr/bin/env bash
# Hellos from N untouched devices in setup mode to a loopback collector:
# the collector launches the fleet and reports the time from its launch
# until every device has said hello. Ports are moved off the standard ones
# so that a wildcard --shared-listener does not collide with other emulators
# on this machine.
#
#   bench/hellos.sh N [extra amtemu fleet flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?device count}
shift
collector=${COLLECTOR:-127.5.255.1:9971}
export AMTEMU_LOG=${AMTEMU_LOG:-amtemu=warn}
exec target/release/amtemu-load hellos --listen "$collector" --expect "$n" \
    --timeout-seconds "${TIMEOUT:-60}" --json -- \
    target/release/amtemu fleet --count "$n" --first-address "${FIRST:-127.6.0.1}" \
    --ca-dir "${CA_DIR:-target/bench-ca}" --provisioning in \
    --http-port 23992 --https-port 23993 --redirection-port 23994 --redirection-tls-port 23995 --local-port 0 \
    --provisioning-server "$collector" "$@"
