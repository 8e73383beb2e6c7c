#!/usr/bin/env bash
# How many of the class names in the DMT message builder's class enums
# (npm @device-management-toolkit/wsman-messages: AMT.Classes, CIM.Classes,
# IPS.Classes) a firmware profile answers: each is enumerated with curl
# --digest (Enumerate, then Pull with the context) against
# `amtemu serve --firmware F --bind 127.0.0.19`; a class counts as answered
# when the Pull comes back 200 without a fault.
#
#   bench/dmt-classes.sh [AMTEMU_BINARY] [FIRMWARE...]   # default: 11.8 16.1
#
# Needs the clients tests/clients/install.sh installs (node and the npm
# package) and curl. Prints, per profile, each class with its HTTP status
# and a line `FW: N/M answered`. 16.1 serves only TLS (16993), so curl
# talks HTTPS there (-k: the device's certificate is the emulator's own).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/amtemu}"
shift || true
profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(11.8 16.1)
prefix="${AMT_CLIENTS_PREFIX:-$HOME/.cache/amtemu-clients}"
pkg="$prefix/node/node_modules/@device-management-toolkit/wsman-messages"
[ -d "$pkg" ] || { echo "wsman-messages not installed under $pkg (run tests/clients/install.sh)" >&2; exit 2; }
node="$(command -v node || echo "$prefix/node/bin/node")"
ip=127.0.0.19
user=admin
pass="${AMTEMU_PASSWORD:-P@ssw0rd}"
dir=$(mktemp -d)
emu=
trap '[ -n "$emu" ] && kill "$emu" 2>/dev/null; rm -rf "$dir"' EXIT

# Class name → resource URI, from the package's own enums and prefixes.
"$node" -e '
const m = require(process.argv[1]);
const base = {
  AMT: "http://intel.com/wbem/wscim/1/amt-schema/1/",
  CIM: "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/",
  IPS: "http://intel.com/wbem/wscim/1/ips-schema/1/",
};
for (const ns of ["AMT", "CIM", "IPS"]) {
  const classes = m[ns] && m[ns].Classes;
  if (!classes) { console.error("no " + ns + ".Classes in the package"); process.exit(2); }
  for (const name of new Set(Object.values(classes))) console.log(name + " " + base[ns] + name);
}' "$pkg" >"$dir/classes"
total=$(wc -l <"$dir/classes")

envelope() { # ACTION URI BODY
  printf '<?xml version="1.0" encoding="utf-8"?><Envelope xmlns="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><Header><a:Action>%s</a:Action><a:To>/wsman</a:To><w:ResourceURI>%s</w:ResourceURI><a:MessageID>uuid:%s</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body>%s</Body></Envelope>' \
    "$1" "$2" "$(cat /proc/sys/kernel/random/uuid)" "$3"
}

for fw in "${profiles[@]}"; do
  "$bin" serve --firmware "$fw" --bind "$ip" --ca-dir "$dir/ca" >"$dir/serve.log" 2>&1 &
  emu=$!
  for _ in $(seq 100); do grep -q 'listening on' "$dir/serve.log" && break; sleep 0.1; done
  if [ "$fw" = 16.1 ] || [ "${fw%%.*}" -ge 17 ] 2>/dev/null; then url="https://$ip:16993/wsman"; else url="http://$ip:16992/wsman"; fi
  post() { curl -sk --digest -u "$user:$pass" -H 'Content-Type: application/soap+xml;charset=UTF-8' -o "$dir/body" -w '%{http_code}' --data-binary @- "$url"; }
  answered=0
  while read -r name uri; do
    code=$(envelope http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate "$uri" '<Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"/>' | post)
    if [ "$code" = 200 ]; then
      ctx=$(grep -o 'EnumerationContext>[^<]*<' "$dir/body" | head -1 | sed 's/^EnumerationContext>//; s/<$//')
      code=$(envelope http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull "$uri" "<Pull xmlns=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"><EnumerationContext>$ctx</EnumerationContext><MaxElements>100</MaxElements></Pull>" | post)
    fi
    if [ "$code" = 200 ] && ! grep -q 'Fault' "$dir/body"; then answered=$((answered + 1)); fi
    echo "$fw $name $code"
  done <"$dir/classes"
  echo "$fw: $answered/$total answered"
  kill "$emu"; wait "$emu" 2>/dev/null || true; emu=
done
