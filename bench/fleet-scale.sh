#!/usr/bin/env bash
# Start-up time and memory of a fleet of N devices, and optionally the
# first TLS handshake to each of M untouched devices.
#
#   bench/fleet-scale.sh N [M] [extra amtemu fleet flags...]
#
# Prints: devices, ready_ms (as amtemu reports it), wall_ms (process start to
# ready line), rss_ready_mb (VmRSS once ready), hwm_mb (peak RSS, VmHWM, at
# the end), and the first-handshake figures when M > 0.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?device count}
m=${2:-0}
shift $(( $# >= 2 ? 2 : 1 ))
bin=target/release
first=${FIRST:-127.2.0.1}
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true' EXIT
start=$(date +%s%N)
"$bin/amtemu" fleet --count "$n" --first-address "$first" --ca-dir "${CA_DIR:-target/bench-ca}" \
    --http-port 23992 --https-port 23993 --redirection-port 23994 --redirection-tls-port 23995 --local-port 0 "$@" >"$log" 2>&1 &
pid=$!
until grep -q "ready in [0-9]* ms" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; exit 1; fi
    sleep 0.01
done
wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
ready_ms=$(grep -o 'ready in [0-9]* ms' "$log" | grep -o '[0-9]*')
rss() { awk -v k="$1" '$1 == k":" {printf "%.1f", $2/1024}' "/proc/$pid/status"; }
rss_ready=$(rss VmRSS)
if [ "$m" -gt 0 ]; then
    "$bin/amtemu-load" first-tls --first "$first" --port 23993 --devices "$m" --concurrency "${CONCURRENCY:-8}"
    # The same devices again: now they hold their identity, so this is the
    # handshake alone, without the key generation of the first contact.
    echo -n "again: "
    "$bin/amtemu-load" first-tls --first "$first" --port 23993 --devices "$m" --concurrency "${CONCURRENCY:-8}"
fi
echo "devices $n ready_ms $ready_ms wall_ms $wall_ms rss_ready_mb $rss_ready hwm_mb $(rss VmHWM)"
