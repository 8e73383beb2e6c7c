#!/usr/bin/env bash
# A Samba Active Directory domain controller (KDC only) on loopback, for the
# Kerberos tests: the KDC AMT's Kerberos users came from, with Windows logon
# information (SIDs) in its tickets' PACs, which MIT's KDC does not write.
#
#   tests/clients/samba-ad.sh start DIR PORT [KPASSWD_PORT]
#                                   # provision into DIR, start the KDC on 127.0.0.1:PORT
#                                   # (kpasswd on KPASSWD_PORT, default PORT+1)
#   tests/clients/samba-ad.sh stop DIR         # stop it (DIR is left for the caller to remove)
#
# `start` writes DIR/krb5.conf (for KRB5_CONFIG: no DNS, the KDC on
# loopback) and DIR/env (shell assignments: the users, their passwords and
# SIDs, the service account's password, salt and SPNs), and leaves the
# KDC's pid in DIR/samba.pid. Domain VPRO.TEST; users bob, eve and mallory,
# group amtops (eve is its member); service
# account amtsvc with the SPNs HTTP/amt.vpro.test:16992 to :16995 and
# HTTP/amt.vpro.test (curl asks for the last), AES keys only; service
# account amtrc4 for HTTP/amt-rc4.vpro.test(:16992), RC4-HMAC only.
#
# Provisioning takes a minute or more on a busy machine, so the provisioned
# domain is kept under ${AMT_CLIENTS_PREFIX:-~/.cache/amtemu-clients}/samba-ad
# and copied for each run (its paths rewritten); delete it to provision anew.
# Nothing listens beyond 127.0.0.1/::1 (`interfaces = lo`, `bind interfaces
# only`), only the KDC runs (`server services = kdc`), and nothing is looked
# up in DNS (`--dns-backend=NONE`, the client's krb5.conf names the KDC).
set -euo pipefail

REALM=VPRO.TEST
DOMAIN=VPRO
ADMIN_PASS='Adm1n-Passw0rd!'
BOB_PASS='Bob-Passw0rd!'
EVE_PASS='Eve-Passw0rd!'
MALLORY_PASS='Mallory-Passw0rd!'
SVC=amtsvc
SVC_PASS='Svc-Passw0rd!'
# A second service account whose tickets are RC4-HMAC only (AMT's MasterKey).
RC4_SVC=amtrc4
RC4_PASS='Rc4-Passw0rd!'
RC4_HOST=amt-rc4.vpro.test
HOST=amt.vpro.test
# tdb/ldb skip fsync (as Samba's own test suite runs): this domain is
# thrown away after the test.
export TDB_NO_FSYNC=1

log() { printf 'samba-ad.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PREFIX="${AMT_CLIENTS_PREFIX:-${HOME:?}/.cache/amtemu-clients}"
# v4: the users, group and SPNs below; a new layout gets a new name.
TEMPLATE="$PREFIX/samba-ad/v4-$(samba --version 2>/dev/null | tr -c 'A-Za-z0-9.\n' _)"

provision_template() { # provision_template DIR: a domain with the users, offline
    local dir=$1 conf
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    log "provisioning $REALM into $dir (takes a minute or more)"
    samba-tool domain provision --server-role=dc --dns-backend=NONE \
        --realm="$REALM" --domain="$DOMAIN" --adminpass="$ADMIN_PASS" \
        --host-name=dc --targetdir="$dir.tmp" \
        --option="interfaces=lo" --option="bind interfaces only=yes" \
        --option="server services=kdc" \
        --option="kdc default domain supported enctypes=24" \
        >"$dir.tmp/provision.log" 2>&1 || { tail -20 "$dir.tmp/provision.log" >&2; die "provision failed"; }
    conf="$dir.tmp/etc/smb.conf"
    samba-tool user create bob "$BOB_PASS" -s "$conf" >/dev/null
    samba-tool user create eve "$EVE_PASS" -s "$conf" >/dev/null
    samba-tool user create mallory "$MALLORY_PASS" -s "$conf" >/dev/null
    samba-tool user create "$SVC" "$SVC_PASS" -s "$conf" >/dev/null
    samba-tool user create "$RC4_SVC" "$RC4_PASS" -s "$conf" >/dev/null
    for spn in "HTTP/$RC4_HOST:16992" "HTTP/$RC4_HOST"; do
        samba-tool spn add "$spn" "$RC4_SVC" -s "$conf" >/dev/null
    done
    # msDS-SupportedEncryptionTypes = 4 (RC4 only), with Samba's own Python
    # bindings (Debian's python3, whatever python3 is first on PATH).
    /usr/bin/python3 - "$conf" "$RC4_SVC" "$REALM" <<'PY' || die "setting RC4 only failed"
import sys
import ldb
from samba.auth import system_session
from samba.param import LoadParm
from samba.samdb import SamDB
conf, account, realm = sys.argv[1:4]
lp = LoadParm()
lp.load(conf)
db = SamDB(url=lp.private_path("sam.ldb"), session_info=system_session(), lp=lp)
base = ",".join("DC=" + p for p in realm.lower().split("."))
m = ldb.Message()
m.dn = ldb.Dn(db, f"CN={account},CN=Users,{base}")
m["e"] = ldb.MessageElement("4", ldb.FLAG_MOD_REPLACE, "msDS-SupportedEncryptionTypes")
db.modify(m)
PY
    samba-tool group add amtops -s "$conf" >/dev/null
    samba-tool group addmembers amtops eve -s "$conf" >/dev/null
    for spn in "HTTP/$HOST:16992" "HTTP/$HOST:16993" "HTTP/$HOST:16994" "HTTP/$HOST:16995" "HTTP/$HOST"; do
        samba-tool spn add "$spn" "$SVC" -s "$conf" >/dev/null
    done
    {
        for u in bob eve mallory "$SVC"; do
            sid=$(samba-tool user show "$u" -s "$conf" --attributes=objectSid | sed -n 's/^objectSid: //p')
            [ -n "$sid" ] || die "no SID for $u"
            printf '%s_SID=%s\n' "$(echo "$u" | tr a-z A-Z)" "$sid"
        done
        sid=$(samba-tool group show amtops -s "$conf" --attributes=objectSid | sed -n 's/^objectSid: //p')
        [ -n "$sid" ] || die "no SID for amtops"
        printf 'AMTOPS_SID=%s\n' "$sid"
        kvno=$(samba-tool user show "$SVC" -s "$conf" --attributes=msDS-KeyVersionNumber | sed -n 's/^msDS-KeyVersionNumber: //p')
        printf 'SVC_KVNO=%s\n' "$kvno"
    } >"$dir.tmp/sids"
    printf '%s\n' "$dir.tmp" >"$dir.tmp/provisioned-at"
    mv "$dir.tmp" "$dir"
}

start() {
    local dir=$1 port=$2 kpasswd=${3:-$(($2 + 1))} from conf
    command -v samba >/dev/null && command -v samba-tool >/dev/null || die "samba is not installed"
    [ -f "$TEMPLATE/sids" ] || provision_template "$TEMPLATE"
    mkdir -p "$dir"
    cp -a "$TEMPLATE/." "$dir/dc"
    from=$(cat "$dir/dc/provisioned-at")
    conf="$dir/dc/etc/smb.conf"
    # The copy's own paths, port and log.
    sed -i -e "s#$from#$dir/dc#g" "$conf"
    # Sockets and pid files in the copy too, so runs side by side (and a
    # system samba) do not meet.
    sed -i -e "s#^\[global\]\$#[global]\n\tkrb5 port = $port\n\tkpasswd port = $kpasswd\n\tlog file = $dir/dc/log.%m\n\tpid directory = $dir/dc/run\n\tncalrpc dir = $dir/dc/run/ncalrpc\n\twinbindd socket directory = $dir/dc/run/winbindd\n\tntp signd socket directory = $dir/dc/run/ntp_signd#" "$conf"
    mkdir -p "$dir/dc/run"
    cat >"$dir/krb5.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_kdc = false
	dns_lookup_realm = false
	rdns = false
	dns_canonicalize_hostname = false
	udp_preference_limit = 1
[realms]
	$REALM = {
		kdc = 127.0.0.1:$port
	}
[domain_realm]
	.vpro.test = $REALM
	vpro.test = $REALM
EOF
    {
        cat "$dir/dc/sids"
        printf 'REALM=%s\nHOST=%s\n' "$REALM" "$HOST"
        printf "BOB_PASS='%s'\nEVE_PASS='%s'\nMALLORY_PASS='%s'\n" "$BOB_PASS" "$EVE_PASS" "$MALLORY_PASS"
        printf "SVC=%s\nSVC_PASS='%s'\nSVC_SALT=%s\n" "$SVC" "$SVC_PASS" "$REALM$SVC"
        printf "RC4_HOST=%s\nRC4_PASS='%s'\n" "$RC4_HOST" "$RC4_PASS"
    } >"$dir/env"
    samba -i -s "$conf" >"$dir/samba.out" 2>&1 </dev/null &
    echo $! >"$dir/samba.pid"
    # Ready when the KDC's TCP port accepts.
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            exit 0
        fi
        kill -0 "$(cat "$dir/samba.pid")" 2>/dev/null || { cat "$dir/samba.out" >&2; die "samba exited"; }
        sleep 0.2
    done
    die "the KDC did not listen on 127.0.0.1:$port"
}

stop() {
    local dir=$1 pid
    [ -f "$dir/samba.pid" ] || exit 0
    pid=$(cat "$dir/samba.pid")
    # The master stops its prefork children when it stops.
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/samba.pid"
}

case "${1:-}" in
start) start "${2:?DIR}" "${3:?PORT}" "${4:-}" ;;
stop) stop "${2:?DIR}" ;;
*) die "usage: $0 start DIR PORT [KPASSWD_PORT] | stop DIR" ;;
esac
