#!/usr/bin/env bash
# Drive Debian's `wsl` (WS-Man shell command line, 0.2.1) against an AMT device.
#
#   wsl.sh HOST PORT USER PASS OP [ARGS...] [--tls]
#
# OPs: identify | version | enum CLASS | get CLASS [KEY=VALUE...] | settings
#      | powerstate | power N
# wsl writes request-N.xml / response-N.xml into a temporary OUTPREFIX; every answer
# is re-checked with a real XML parser (wsl_parse.py) instead of trusting wsl's exit
# code. wsl's own output goes to stderr; the last stdout line is one JSON object.
# AMT_CLIENTS_KEEP=1 keeps the temporary directory (its path is in the JSON).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

json_error() { # json_error OP MESSAGE
    python3 -c 'import json,sys; print(json.dumps({"ok": False, "client": "wsl", "op": sys.argv[1], "error": sys.argv[2]}))' "$1" "$2"
}

# shellcheck source=common.sh
. "$HERE/common.sh"
if ! parse_driver_args "$@"; then
    json_error "" "usage: wsl.sh HOST PORT USER PASS identify|version|enum CLASS|get CLASS|settings|powerstate|power N [--tls]"
    exit 2
fi

if ! is_loopback "$HOST"; then json_error "$OP" "refusing non-loopback host $HOST"; exit 2; fi
for tool in wsl wget xmllint uuidgen; do
    command -v "$tool" >/dev/null || { json_error "$OP" "$tool not installed (run tests/clients/install.sh)"; exit 1; }
done

# Class name → resource URI. wsl itself only knows CIM_ (DMTF) and a Dell default.
class_uri() {
    case "$1" in
        */*) printf '%s\n' "$1" ;;
        AMT_*) printf 'http://intel.com/wbem/wscim/1/amt-schema/1/%s\n' "$1" ;;
        IPS_*) printf 'http://intel.com/wbem/wscim/1/ips-schema/1/%s\n' "$1" ;;
        *) printf 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/%s\n' "$1" ;;
    esac
}

work="$(mktemp -d "${TMPDIR:-/tmp}/amtemu-wsl.XXXXXX")"
if [ "${AMT_CLIENTS_KEEP:-}" = 1 ]; then
    echo "wsl.sh: keeping $work" >&2
else
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work/out" "$work/home"

# What wsl reads from the environment (see /usr/share/wsl/wsl-functions).
export WSENDPOINT="$HOST:$PORT" WSUSER="$USER_" WSPASS="$PASS" WSAUTOMATED=1 USEWGET=true \
    OUTPREFIX="$work/out" HOME="$work/home" SHELL=/bin/bash KEEPHISTORY=0 \
    WGETTIMEOUTSECS="${AMT_DRIVER_IO_TIMEOUT:-20}" WGETTRYNUM=1
if [ "$tls" = 1 ]; then unset WSNOSSL; else export WSNOSSL=true; fi
cd "$work"

run_wsl() { # run_wsl ARGS... → sets wsl_rc
    set +e
    timeout "${AMT_DRIVER_TIMEOUT:-120}" wsl "$@" >&2
    wsl_rc=$?
    set -e
}

wsl_rc=0
check_class=""
ignore_rc1=0 # wsl get without selectors always exits 1 (see wsl_parse.py)
case "$OP" in
    identify)
        run_wsl identify check ;;
    version)
        run_wsl enum "$(class_uri CIM_SoftwareIdentity)" ;;
    enum)
        [ "${#EXTRA[@]}" -ge 1 ] || { json_error "$OP" "enum: need a CLASS"; exit 2; }
        run_wsl enum "$(class_uri "${EXTRA[0]}")" ;;
    get)
        [ "${#EXTRA[@]}" -ge 1 ] || { json_error "$OP" "get: need a CLASS"; exit 2; }
        check_class="${EXTRA[0]##*/}"
        [ "${#EXTRA[@]}" -eq 1 ] && ignore_rc1=1
        run_wsl get "$(class_uri "${EXTRA[0]}")" "${EXTRA[@]:1}" ;;
    settings)
        check_class=AMT_GeneralSettings ignore_rc1=1
        run_wsl get "$(class_uri AMT_GeneralSettings)" ;;
    powerstate)
        check_class=CIM_AssociatedPowerManagementService ignore_rc1=1
        run_wsl get "$(class_uri CIM_AssociatedPowerManagementService)" ;;
    power)
        [ "${#EXTRA[@]}" -ge 1 ] || { json_error "$OP" "power: need a power state number"; exit 2; }
        case "${EXTRA[0]}" in
            on) n=2 ;; cycle) n=5 ;; off) n=8 ;; reset) n=10 ;;
            *[!0-9]*|'') json_error "$OP" "power: bad power state ${EXTRA[0]}"; exit 2 ;;
            *) n="${EXTRA[0]}" ;;
        esac
        # EPRs in wsl's own prefixes: the service (all four keys go into the header
        # SelectorSet) and the managed system (copied into the ManagedElement param).
        cat >"$work/pms-epr.xml" <<'EOF'
<wsa:EndpointReference>
<wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address>
<wsa:ReferenceParameters>
<wsman:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_PowerManagementService</wsman:ResourceURI>
<wsman:SelectorSet>
<wsman:Selector Name="CreationClassName">CIM_PowerManagementService</wsman:Selector>
<wsman:Selector Name="Name">Intel(r) AMT Power Management Service</wsman:Selector>
<wsman:Selector Name="SystemCreationClassName">CIM_ComputerSystem</wsman:Selector>
<wsman:Selector Name="SystemName">Intel(r) AMT</wsman:Selector>
</wsman:SelectorSet>
</wsa:ReferenceParameters>
</wsa:EndpointReference>
EOF
        cat >"$work/cs-epr.xml" <<'EOF'
<wsa:EndpointReference>
<wsa:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsa:Address>
<wsa:ReferenceParameters>
<wsman:ResourceURI>http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ComputerSystem</wsman:ResourceURI>
<wsman:SelectorSet>
<wsman:Selector Name="CreationClassName">CIM_ComputerSystem</wsman:Selector>
<wsman:Selector Name="Name">ManagedSystem</wsman:Selector>
</wsman:SelectorSet>
</wsa:ReferenceParameters>
</wsa:EndpointReference>
EOF
        run_wsl invoke CIM_PowerManagementService RequestPowerStateChange "PowerState=$n" \
            "ManagedElement=FILE:$work/cs-epr.xml" -inst "$work/pms-epr.xml" ;;
    *)
        json_error "$OP" "unknown op $OP (identify|version|enum CLASS|get CLASS|settings|powerstate|power N)"
        exit 2 ;;
esac

if [ "$wsl_rc" = 124 ]; then
    json_error "$OP" "wsl timed out after ${AMT_DRIVER_TIMEOUT:-120} s ($(find "$work/out" -name 'request-*.xml' | wc -l) requests sent)"
    exit 1
fi
set +e
result="$(python3 "$HERE/wsl_parse.py" "$OP" "$work/out" "$wsl_rc" "$check_class" "$ignore_rc1")"
prc=$?
set -e
if [ "$prc" != 0 ] && [ -f "$work/out/log.txt" ]; then
    echo "---- wsl log.txt (tail)" >&2
    tail -n 20 "$work/out/log.txt" >&2
fi
if [ "${AMT_CLIENTS_KEEP:-}" = 1 ]; then
    result="$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["workdir"]=sys.argv[2]; print(json.dumps(d))' "$result" "$work")"
fi
printf '%s\n' "$result"
exit "$prc"
