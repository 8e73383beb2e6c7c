#!/usr/bin/env bash
# Memory and start-up of a fleet of N idle devices, and what reaching some
# of them costs.
#
#   bench/density.sh N [REACH] [extra amtemu fleet flags...]
#
# Starts `amtemu fleet --count N --first-address $FIRST --shared-listener`,
# waits for its ready line and prints ready_ms (amtemu's figure), wall_ms
# (process start to ready) and VmRSS; then sends an authenticated WS-Man
# Get (curl --digest) to REACH (default 20) random devices, checks each
# answered 200 with its own name, and prints VmRSS again and the cost per
# reached device. PORT (default 16992) is the devices' HTTP port; BIN the
# amtemu binary (default target/release/amtemu).
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?device count}
reach=${2:-20}
shift $(( $# >= 2 ? 2 : 1 ))
bin=${BIN:-target/release/amtemu}
first=${FIRST:-127.4.0.1}
port=${PORT:-16992}
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true' EXIT
start=$(date +%s%N)
"$bin" fleet --count "$n" --first-address "$first" --shared-listener \
    --ca-dir "${CA_DIR:-target/bench-ca}" --http-port "$port" --https-port $((port + 1)) \
    --redirection-port $((port + 2)) --redirection-tls-port $((port + 3)) --local-port 0 \
    "$@" >"$log" 2>&1 &
pid=$!
until grep -q "ready in [0-9]* ms" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; exit 1; fi
    sleep 0.01
done
wall_ms=$(( ($(date +%s%N) - start) / 1000000 ))
ready_ms=$(grep -o 'ready in [0-9]* ms' "$log" | grep -o '[0-9]*')
rss_kb() { awk '$1 == "VmRSS:" {print $2}' "/proc/$pid/status"; }
idle_kb=$(rss_kb)
echo "devices $n ready_ms $ready_ms wall_ms $wall_ms rss_idle_mb $(awk -v k="$idle_kb" 'BEGIN {printf "%.1f", k/1024}') bytes_per_device $(( idle_kb * 1024 / n ))"

# Device i (0-based) at the i-th address from FIRST, skipping .0 and .255,
# as `amtemu fleet` lays them out.
address() {
    local i=$1 a b c d
    IFS=. read -r a b c d <<<"$first"
    local s=$(( ((a << 16 | b << 8 | c) * 254) + d - 1 + i ))
    local raw=$(( (s / 254) << 8 | (s % 254 + 1) ))
    echo "$(( raw >> 24 & 255 )).$(( raw >> 16 & 255 )).$(( raw >> 8 & 255 )).$(( raw & 255 ))"
}
get='<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>1</a:MessageID></s:Header><s:Body/></s:Envelope>'
ok=0
for _ in $(seq "$reach"); do
    i=$(( (RANDOM << 15 | RANDOM) % n ))
    addr=$(address "$i")
    width=$(( ${#n} < 5 ? 5 : ${#n} ))
    host=$(printf "amt-%0${width}d" $((i + 1)))
    body=$(curl -s --digest -u 'admin:P@ssw0rd' -H 'Content-Type: application/soap+xml' \
        --data "$get" "http://$addr:$port/wsman" -w '\n%{http_code}')
    if [ "${body##*$'\n'}" = 200 ] && grep -q "HostName>$host<" <<<"$body"; then
        ok=$((ok + 1))
    else
        echo "device $i at $addr: unexpected answer: ${body:0:300}" >&2
    fi
done
reached_kb=$(rss_kb)
echo "reached $ok/$reach rss_reached_mb $(awk -v k="$reached_kb" 'BEGIN {printf "%.1f", k/1024}') bytes_per_reached_device $(( (reached_kb - idle_kb) * 1024 / reach ))"
[ "$ok" = "$reach" ]
