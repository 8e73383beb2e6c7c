#!/usr/bin/env bash
# The QEMU host lab's two figures: boot-to-login (a WS-Man power-on until the
# guest's shell prompt shows over SOL, read with amtterm) and SOL echo
# latency against the VM's serial console (amtemu-load sol, one session).
#
#   bench/qemu.sh [SECONDS]       # default 10 s of echoes
#
# Needs tests/clients/install.sh (QEMU, amtctrl, amtterm and the guest of
# tests/qemu/build-image.sh). RATE=keystrokes a second (default 1), ACCEL=tcg|kvm|auto (default tcg), BIN=target
# dir with amtemu and amtemu-load (default target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
bin=${BIN:-target/release}
addr=${ADDR:-127.7.9.1}
prefix="${AMT_CLIENTS_PREFIX:-$HOME/.cache/amtemu-clients}"
guest=$(AMT_CLIENTS_PREFIX="$prefix" tests/qemu/build-image.sh)
log=$(mktemp)
trap 'rm -f "$log"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; true' EXIT
AMTEMU_LOG=amtemu=warn "$bin/amtemu" serve --bind "$addr" --local-port 0 --vnc-port 0 \
    --ca-dir "${CA_DIR:-target/bench-ca}" --power s5 --boot-ms 100 \
    --host qemu --qemu-accel "${ACCEL:-tcg}" \
    --qemu-kernel "$guest/vmlinuz" --qemu-initrd "$guest/initrd.img" >"$log" 2>&1 &
pid=$!
until grep -q "listening on" "$log"; do
    if ! kill -0 "$pid" 2>/dev/null; then cat "$log"; exit 1; fi
    sleep 0.01
done
start=$(date +%s.%N)
tests/clients/amtctrl.sh "$addr" 16992 admin 'P@ssw0rd' on | tail -n 1 >/dev/null
AMT_DRIVER_STEP_TIMEOUT=300 tests/clients/amtterm.sh "$addr" 16994 admin 'P@ssw0rd' \
    'expect:amtemu-qemu-guest ready' 'expect:/ # ' | tail -n 1 >/dev/null
end=$(date +%s.%N)
printf 'boot-to-login (%s): %.1f s (WS-Man power-on to the shell prompt over SOL)\n' \
    "${ACCEL:-tcg}" "$(echo "$end - $start" | bc)"
"$bin/amtemu-load" sol --first "$addr" --devices 1 --seconds "$seconds" ${RATE:+--rate "$RATE"}
