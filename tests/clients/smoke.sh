#!/usr/bin/env bash
# Run every client driver operation against one running AMT device (or emulator)
# and print a pass/fail matrix.
#
#   tests/clients/smoke.sh HOST PORT USER PASS [--tls]
#
# Changes the host power state (it ends powered on). Needs tests/clients/install.sh.
# Per-op JSON goes to $SMOKE_LOG (default: a temp file, printed at the end).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ "$#" -lt 4 ]; then
    echo "usage: smoke.sh HOST PORT USER PASS [--tls]" >&2
    exit 2
fi
TARGET=("$1" "$2" "$3" "$4")
FLAGS=("${@:5}")
LOG="${SMOKE_LOG:-$(mktemp "${TMPDIR:-/tmp}/amtemu-smoke.XXXXXX")}"
: >"$LOG"
passed=0
failed=0
failures=()

driver() { # driver NAME → command array in DRV
    case "$1" in
        meshcommander) DRV=(node "$HERE/meshcommander.js") ;;
        wsman-messages) DRV=(node "$HERE/wsman-messages.js") ;;
        amtctrl) DRV=("$HERE/amtctrl.sh") ;;
        amtctrl-lib) DRV=(env AMTCTRL_MODE=lib "$HERE/amtctrl.sh") ;;
        wsl) DRV=("$HERE/wsl.sh") ;;
    esac
}

check() { # check CLIENT OP [ARGS...]
    local name="$1"; shift
    driver "$name"
    local line rc
    set +e
    line="$("${DRV[@]}" "${TARGET[@]}" "$@" "${FLAGS[@]}" 2>>"$LOG.stderr" | tail -n 1)"
    rc=$?
    set -e
    printf '%s %s => %s\n' "$name" "$*" "$line" >>"$LOG"
    if [ "$rc" = 0 ] && grep -q '"ok": *true' <<<"$line"; then
        passed=$((passed + 1))
        printf 'PASS  %-15s %s\n' "$name" "$*"
    else
        failed=$((failed + 1))
        failures+=("$name $*")
        printf 'FAIL  %-15s %s: %s\n' "$name" "$*" "$(python3 -c 'import json,sys
try: print(json.loads(sys.argv[1]).get("error"))
except Exception: print(sys.argv[1][:300])' "$line")"
    fi
}

powerstate() {
    node "$HERE/wsman-messages.js" "${TARGET[@]}" powerstate "${FLAGS[@]}" 2>/dev/null | tail -n 1 |
        python3 -c 'import json,sys; print(json.loads(sys.stdin.read()).get("powerstate", ""))' 2>/dev/null || true
}

settle() { # settle WANTED_STATE: wait for a power transition to land
    local want="$1"
    sleep 1
    for _ in $(seq 1 30); do
        [ "$(powerstate)" = "$want" ] && { sleep 1; return 0; }
        sleep 0.5
    done
    echo "      (power state did not become $want)" >&2
}

echo "== read-only operations"
for op in info version settings powerstate connect "get AMT_GeneralSettings" "enum CIM_SoftwareIdentity"; do
    # shellcheck disable=SC2086
    check meshcommander $op
done
for op in info version settings powerstate setup optin redirection bootcaps "get CIM_ComputerSystemPackage" "enum CIM_ServiceAvailableToElement"; do
    # shellcheck disable=SC2086
    check wsman-messages $op
done
check amtctrl status
check amtctrl-lib status
for op in identify version settings powerstate "enum CIM_SoftwareIdentity" "get CIM_ComputerSystemPackage" "enum AMT_EthernetPortSettings"; do
    # shellcheck disable=SC2086
    check wsl $op
done

echo "== power operations"
[ "$(powerstate)" = 2 ] || { check amtctrl on; settle 2; }
check meshcommander power 8; settle 8
check meshcommander power 2; settle 2
check meshcommander power 10 pxe; settle 2
check meshcommander power 400; settle 2
check wsman-messages power 8; settle 8
check wsman-messages power 2; settle 2
check wsman-messages power 5; settle 2
check wsman-messages boot pxe; settle 2
check wsman-messages boot bios; settle 2
check wsman-messages boot hdd; settle 2
check wsman-messages boot cd; settle 2
check amtctrl off; settle 8
check amtctrl on; settle 2
check amtctrl reboot; settle 2
check amtctrl pxeboot; settle 2
check amtctrl-lib off; settle 8
check amtctrl-lib on; settle 2
check wsl power 8; settle 8
check wsl power 2; settle 2
check wsl power 10; settle 2

echo "== whole-state walk"
check meshcommander fullstate

echo "details: $LOG (stderr: $LOG.stderr)"
if ((failed)); then
    printf 'failed: %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
