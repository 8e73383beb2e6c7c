#!/usr/bin/env bash
# The QEMU host lab's figures: boot-to-login (a WS-Man power-on until the
# guest's shell prompt shows over SOL, read with amtterm), the KVM screen's
# first frame from the VM's display (SHOTS screenshots through the control
# API, default 5: amtemu's own figure from its log, and the whole
# `amtemu ctl screenshot` round trip) and SOL echo latency against the VM's
# serial console (amtemu-load sol, one session).
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
AMTEMU_LOG=amtemu=warn,amtemu_server::qemu::display=info \
    "$bin/amtemu" serve --bind "$addr" --local-port 0 --vnc-port 0 --control "$addr:17000" \
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
for _ in $(seq "${SHOTS:-5}"); do
    t0=$(date +%s.%N)
    "$bin/amtemu" ctl --control "$addr:17000" screenshot amtemu-default >/dev/null
    t1=$(date +%s.%N)
    printf 'KVM screenshot of the VM: %.0f ms (amtemu ctl screenshot, end to end)\n' \
        "$(echo "($t1 - $t0) * 1000" | bc)"
done
sed 's/\x1b\[[0-9;]*m//g' "$log" |
    sed -n 's/.*the VM.s first frame ms=\([0-9]\+\).*/KVM first frame from the VM display: \1 ms (view opened to first update)/p'
"$bin/amtemu-load" sol --first "$addr" --devices 1 --seconds "$seconds" ${RATE:+--rate "$RATE"}
