#!/usr/bin/env bash
# Instructions per authenticated WS-Man Get (keep-alive HTTP), amtemu
# against the bare hyper baseline, counted by callgrind: unlike requests a
# second, instruction counts do not move with the machine's other load.
#
#   bench/callgrind-get.sh [BIN_DIR]      # default target/release
#
# Each server runs under callgrind with instrumentation off; a short native
# `amtemu-load get` warms it up (connections, the first 401, lazy tables),
# then instrumentation goes on for a timed run and the server's instructions
# are divided by the Gets that run completed. The same generator, requests
# (Authorization included) and run drive both. With CLIENT=1 the generator
# is measured the same way instead (its instructions per Get against each
# server), to check that both sides of the comparison cost it alike.
# Env: SECONDS_RUN (default 4), CONCURRENCY (4), FIRST (127.68.0.1),
# BASE (127.68.200.1), PORT (18992).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/release}"
secs="${SECONDS_RUN:-4}"
conc="${CONCURRENCY:-4}"
first="${FIRST:-127.68.0.1}"
base="${BASE:-127.68.200.1}"
port="${PORT:-18992}"
dir=${KEEP:-$(mktemp -d)}
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] || rm -rf "$dir"' EXIT

wait_port() { # ip port
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on $1:$2" >&2
    return 1
}

# The size of amtemu's answer, so the baseline sends as many bytes.
body_bytes() {
    "$bin/amtemu-load" get --first "$first" --seconds 0.1 --concurrency 1 --baseline \
        --baseline-addr "$base:$port" | sed -n 's/.* answering \([0-9]*\) bytes.*/\1/p'
}

total_ir() { # callgrind output files
    python3 - "$@" <<'PY'
import sys
total = 0
for path in sys.argv[1:]:
    for line in open(path):
        if line.startswith("totals:") or line.startswith("summary:"):
            total += int(line.split()[1]); break
print(total)
PY
}

gets_of() { # amtemu-load --json output
    tail -1 "$1" | python3 -c 'import json,sys; print(sum(r["ok"] for r in json.load(sys.stdin)["runs"]))'
}

# The generator drives the baseline as `--baseline` does (Authorization
# computed and sent although the baseline checks nothing).
as() { [ "$1" = hyper ] && echo --as-baseline || true; }

# measure LABEL IP PORT -- SERVER COMMAND...
measure_server() {
    local label=$1 ip=$2 p=$3; shift 4
    valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$dir/$label.cg" "$@" >"$dir/$label.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_port "$ip" "$p"
    "$bin/amtemu-load" get --first "$ip" --port "$p" --seconds 1 --concurrency "$conc" $(as "$label") >/dev/null
    callgrind_control -i on "$pid" >/dev/null 2>&1
    "$bin/amtemu-load" get --first "$ip" --port "$p" --seconds "$secs" \
        --concurrency "$conc" $(as "$label") --json >"$dir/$label.load"
    callgrind_control -d "$pid" >/dev/null 2>&1
    # The dump is written by the server's own thread: wait for its totals.
    for _ in $(seq 1 100); do
        grep -qs '^totals:' "$dir/$label.cg.1" && break
        sleep 0.1
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
    local ir gets
    ir=$(total_ir "$dir/$label.cg.1")
    gets=$(gets_of "$dir/$label.load")
    printf '%-8s %12d instructions / %6d Gets = %8.0f instructions per Get\n' \
        "$label" "$ir" "$gets" "$(echo "$ir / $gets" | bc -l)"
}

# measure_client LABEL IP PORT: the generator under callgrind, the server native.
measure_client() {
    local label=$1 ip=$2 p=$3
    "$bin/amtemu-load" get --first "$ip" --port "$p" --seconds 0.5 --concurrency "$conc" $(as "$label") >/dev/null
    valgrind --tool=callgrind --callgrind-out-file="$dir/client-$label.cg" \
        "$bin/amtemu-load" get --first "$ip" --port "$p" --seconds "$secs" \
        --concurrency "$conc" $(as "$label") --json >"$dir/client-$label.load" 2>"$dir/client-$label.log"
    local ir gets
    ir=$(total_ir "$dir/client-$label.cg")
    gets=$(gets_of "$dir/client-$label.load")
    printf 'client against %-8s %12d instructions / %6d Gets = %8.0f instructions per Get (start-up included)\n' \
        "$label" "$ir" "$gets" "$(echo "$ir / $gets" | bc -l)"
}

if [ "${CLIENT:-0}" = 1 ]; then
    "$bin/amtemu" fleet --count 1 --first-address "$first" --local-port 0 >"$dir/fleet.log" 2>&1 &
    pids+=("$!")
    wait_port "$first" 16992
    size=$(body_bytes)
    "$bin/amtemu-load" baseline --kind http --bind "$base:$port" --body-bytes "$size" >/dev/null &
    pids+=("$!")
    wait_port "$base" "$port"
    measure_client amtemu "$first" 16992
    measure_client hyper "$base" "$port"
    exit 0
fi

measure_server amtemu "$first" 16992 -- "$bin/amtemu" fleet --count 1 --first-address "$first" --local-port 0
"$bin/amtemu" fleet --count 1 --first-address "$first" --local-port 0 >"$dir/fleet.log" 2>&1 &
fleet=$!
pids+=("$fleet")
wait_port "$first" 16992
size=$(body_bytes)
kill "$fleet"; wait "$fleet" 2>/dev/null || true
echo "baseline answers $size bytes"
measure_server hyper "$base" "$port" -- "$bin/amtemu-load" baseline --kind http --bind "$base:$port" --body-bytes "$size"
