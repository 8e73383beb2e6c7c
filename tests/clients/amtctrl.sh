#!/usr/bin/env bash
# Drive amtctrl (PyPI `amt` 0.8.0) against an AMT device.
#
#   amtctrl.sh HOST PORT USER PASS status|on|off|reboot|pxeboot [--tls]
#
# The real `amtctrl` CLI hard-codes user admin and port 16992, so it is used when
# PORT=16992, USER=admin and no TLS (password given with -p on stdin); otherwise
# amtctrl_drive.py drives the same amt.client.Client with the URI/user overridden.
# AMTCTRL_MODE=lib forces the library driver. Prints one JSON object as the last
# stdout line; exit 0 only on success.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="${AMT_CLIENTS_PREFIX:-${HOME:?set HOME or AMT_CLIENTS_PREFIX}/.cache/amtemu-clients}"
PY="$PREFIX/venv/bin/python"
AMTCTRL="$PREFIX/venv/bin/amtctrl"

json() { # json KEY=VALUE... (values are strings; ok= and rc= become JSON booleans/numbers)
    python3 -c '
import json, sys
out = {}
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    if k == "ok":
        v = (v == "true")
    elif k in ("rc", "powerstate", "return_value") and v.lstrip("-").isdigit():
        v = int(v)
    out[k] = v
print(json.dumps(out))' "$@"
}

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
if ! parse_driver_args "$@"; then
    json ok=false client=amtctrl error="usage: amtctrl.sh HOST PORT USER PASS status|on|off|reboot|pxeboot [--tls]"
    exit 2
fi

if [ ! -x "$PY" ] || [ ! -x "$AMTCTRL" ]; then
    json ok=false client=amtctrl op="$OP" error="amt not installed in $PREFIX/venv (run tests/clients/install.sh)"
    exit 1
fi
if ! is_loopback "$HOST"; then
    json ok=false client=amtctrl op="$OP" error="refusing non-loopback host $HOST"
    exit 2
fi
case "$OP" in
    status|on|off|reboot|pxeboot|softoff) ;;
    *) json ok=false client=amtctrl op="$OP" error="unknown op $OP (status|on|off|reboot|pxeboot|softoff)"; exit 2 ;;
esac

# softoff (graceful off, 12) is the library's request with a state its CLI lacks.
if [ "$PORT" != 16992 ] || [ "$USER_" != admin ] || [ "$tls" = 1 ] || [ "${AMTCTRL_MODE:-}" = lib ] || [ "$OP" = softoff ]; then
    args=("$HOST" "$PORT" "$USER_" "$PASS" "$OP")
    [ "$tls" = 1 ] && args+=(--tls)
    exec "$PY" "$HERE/amtctrl_drive.py" "${args[@]}"
fi

# The real CLI. Its host database lives under $HOME; keep it out of the user's.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
set +e
out="$(printf '%s\n' "$PASS" | HOME="$tmp" timeout "${AMT_DRIVER_TIMEOUT:-60}" "$AMTCTRL" -p "$HOST" "$OP" 2>&1)"
rc=$?
set -e
printf '%s\n' "$out" >&2

# amtctrl exits 0 even when it printed "Error: ..." or the XML of a failed call.
fail() {
    local rv
    rv="$(grep -o 'ReturnValue>[0-9]*<' <<<"$out" | head -n 1 | tr -dc '0-9' || true)"
    json ok=false client=amtctrl mode=cli op="$OP" rc="$rc" return_value="$rv" output="$out" error="$1"
    exit 1
}
[ "$rc" = 124 ] && fail "amtctrl timed out"
[ "$rc" != 0 ] && fail "amtctrl exited $rc"
grep -q 'Traceback' <<<"$out" && fail "amtctrl raised an exception"
grep -q '^Error' <<<"$out" && fail "amtctrl reported an HTTP error"
grep -q '<' <<<"$out" && fail "amtctrl printed the answer XML (ReturnValue was not 0)"
if [ "$OP" = status ]; then
    state="$(printf '%s\n' "$out" | tail -n 1)"
    # The CLI prints only the name (amt.wsman POWER_STATES); give the number too.
    case "$state" in
        on) ps=2 ;; off) ps=8 ;; standby) ps=4 ;; reboot) ps=5 ;; hibernate) ps=7 ;; unknown) ps="" ;;
        *) fail "unexpected status output" ;;
    esac
    json ok=true client=amtctrl mode=cli op="$OP" status="$state" powerstate="$ps" output="$out"
else
    [ -n "$out" ] && fail "unexpected output"
    json ok=true client=amtctrl mode=cli op="$OP" return_value=0 output="$out"
fi
