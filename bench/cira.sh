#!/usr/bin/env bash
# N devices call home to amtemu-load's MPS: starts `amtemu fleet --count N`,
# has `amtemu-load cira` configure every device over WS-Man, accept every
# tunnel and time WS-Man Gets through them and directly, and reads the
# fleet's RSS before and after (per tunnel). Ports are moved off the
# standard ones as in the other scripts.
#
#   bench/cira.sh N [extra amtemu fleet flags...]
#
# Each tunnel is one open socket in the fleet and one in the MPS (plus the
# MPS's WS-Man connections), so both processes need about N + 1024 open
# files. The script raises its soft limit to that (the fleet and the MPS
# inherit it) and stops with a clear message when the hard limit is lower:
# raise the hard limit as root (`ulimit -Hn`, systemd's LimitNOFILE,
# `docker run --ulimit nofile=...`), which an unprivileged process cannot.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:?device count}
shift
need=$((n + 1024))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
    echo "bench/cira.sh: $n tunnels need about $need open files per process, but the hard limit is $hard;" >&2
    echo "  raise it as root (ulimit -Hn $need, LimitNOFILE=, docker --ulimit nofile=$need) or run at most $((hard - 1024)) tunnels" >&2
    exit 2
fi
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt "$need" ]; then
    ulimit -Sn "$need"
fi
first=${FIRST:-127.7.0.1}
bin=${CARGO_TARGET_DIR:-target}/release
export AMTEMU_LOG=${AMTEMU_LOG:-amtemu=warn}
log=$(mktemp)
"$bin/amtemu" fleet --count "$n" --first-address "$first" \
    --ca-dir "${CA_DIR:-target/bench-ca}" \
    --http-port 23992 --https-port 23993 --redirection-port 23994 --redirection-tls-port 23995 --local-port 0 \
    "$@" >"$log" 2>&1 &
fleet=$!
trap 'kill $fleet 2>/dev/null || true; [ -n "${KEEP_LOG:-}" ] && cp "$log" "$KEEP_LOG"; rm -f "$log"' EXIT
# Wait until the fleet says it is ready.
for _ in $(seq 600); do
    grep -q "ready in" "$log" && break
    sleep 0.2
done
"$bin/amtemu-load" cira --first "$first" --devices "$n" --port 23992 \
    --listen "${MPS:-127.7.255.254:4433}" --gets "${GETS:-10}" \
    --timeout-seconds "${TIMEOUT:-300}" --pid "$fleet" --json
