#!/usr/bin/env bash
# Install the real third-party AMT clients used by the black-box client tests.
#
#   tests/clients/install.sh            # installs into ${AMT_CLIENTS_PREFIX:-$HOME/.cache/amtemu-clients}
#
# Idempotent and non-interactive. Needs root (or sudo) only when a Debian package
# is missing. Network: Debian apt, PyPI and the npm registry only.
set -euo pipefail

PREFIX="${AMT_CLIENTS_PREFIX:-${HOME:?set HOME or AMT_CLIENTS_PREFIX}/.cache/amtemu-clients}"
AMT_PY_VERSION="0.8.0"
# vncdotool 1.4.2 knows AMT's "RFB 004.000" and keeps its RGB565 format (KVM tests).
VNCDOTOOL_VERSION="1.4.2"
MESHCENTRAL_VERSION="1.1.55"
WSMAN_MESSAGES_VERSION="5.14.1"
XML2JS_VERSION="0.6.2"
APT_PACKAGES=(wsl uuid-runtime libxml2-utils wget curl amtterm)
# The OpenSSL TLS backend links Debian's libssl (libssl-dev, pkg-config to
# build); the TLS profile tests probe each firmware row with `openssl s_client`.
APT_PACKAGES+=(libssl-dev pkg-config openssl)

log() { printf 'install.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$PREFIX"

# ---------------------------------------------------------------- apt
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
APT_UPDATED=0
apt_install() { # apt_install PKG... (runs apt-get update once, only when needed)
    local sudo=()
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || die "need root to apt-get install: $*"
        sudo=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    if [ "$APT_UPDATED" = 0 ]; then
        "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@" >/dev/null || die "apt-get install $* failed"
}
if ((${#missing[@]})); then
    apt_install "${missing[@]}"
fi
for tool in wsl uuidgen xmllint wget curl amtterm openssl pkg-config; do
    command -v "$tool" >/dev/null || die "$tool not found after apt install"
done

# ---------------------------------------------------------------- python venv + amt
VENV="$PREFIX/venv"
amt_installed() {
    [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/amtctrl" ] &&
        [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("amt"))' 2>/dev/null)" = "$AMT_PY_VERSION" ]
}
if ! amt_installed; then
    log "python venv $VENV with amt==$AMT_PY_VERSION"
    if ! python3 -m venv --clear "$VENV" >/dev/null 2>&1; then
        # Debian's own python3 needs python3-venv for ensurepip.
        log "python3 -m venv failed; installing python3-venv"
        apt_install python3-venv
        python3 -m venv --clear "$VENV" || die "python3 -m venv failed"
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "amt==$AMT_PY_VERSION" \
        || die "pip install amt==$AMT_PY_VERSION failed"
    amt_installed || die "amt $AMT_PY_VERSION not importable after install"
fi
vncdotool_installed() {
    [ -x "$VENV/bin/vncdo" ] &&
        [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("vncdotool"))' 2>/dev/null)" = "$VNCDOTOOL_VERSION" ]
}
if ! vncdotool_installed; then
    log "pip install vncdotool==$VNCDOTOOL_VERSION"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "vncdotool==$VNCDOTOOL_VERSION" \
        || die "pip install vncdotool==$VNCDOTOOL_VERSION failed"
    vncdotool_installed || die "vncdotool $VNCDOTOOL_VERSION not importable after install"
fi

# ---------------------------------------------------------------- Kerberos (tests/kerberos.rs)
# A Samba AD domain controller (its KDC writes the Windows PAC with the SIDs
# AMT's ACL holds), MIT's kinit/kvno, and pywinrm with Kerberos (pyspnego +
# python-gssapi, built against libkrb5-dev).
KRB_APT=(samba samba-ad-provision samba-dsdb-modules samba-vfs-modules krb5-user libkrb5-dev gcc)
PYWINRM_VERSION="0.5.0"
# pywinrm's kerberos extra brings requests-kerberos and pyspnego; pyspnego's
# own kerberos extra brings the GSS-API bindings (gssapi, krb5: built from
# source here, about five minutes).
PYSPNEGO_VERSION="0.12.4"
krb_missing=()
for pkg in "${KRB_APT[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || krb_missing+=("$pkg")
done
if ((${#krb_missing[@]})); then
    apt_install "${krb_missing[@]}"
fi
for tool in samba samba-tool kinit; do
    command -v "$tool" >/dev/null || die "$tool not found after apt install"
done
pywinrm_installed() {
    [ "$("$VENV/bin/python" -c 'import importlib.metadata as m, gssapi, spnego; print(m.version("pywinrm"))' 2>/dev/null)" = "$PYWINRM_VERSION" ]
}
if ! pywinrm_installed; then
    log "pip install pywinrm[kerberos]==$PYWINRM_VERSION"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "pywinrm[kerberos]==$PYWINRM_VERSION" \
        "pyspnego[kerberos]==$PYSPNEGO_VERSION" \
        || die "pip install pywinrm[kerberos]==$PYWINRM_VERSION failed"
    pywinrm_installed || die "pywinrm $PYWINRM_VERSION with gssapi not importable after install"
fi
# ---------------------------------------------------------------- sharding (k8s/, tests/multihost.rs)
# kubernetes-validate ships the Kubernetes JSON schemas inside its wheel, so
# tests/k8s.rs validates k8s/ offline; `ip` (iproute2) makes the namespaces
# of the multi-host test.
KUBERNETES_VALIDATE_VERSION="1.37.0"
kubernetes_validate_installed() {
    [ -x "$VENV/bin/kubernetes-validate" ] &&
        [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))' 2>/dev/null)" = "$KUBERNETES_VALIDATE_VERSION" ]
}
if ! kubernetes_validate_installed; then
    log "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
        || die "pip install kubernetes-validate==$KUBERNETES_VALIDATE_VERSION failed"
    kubernetes_validate_installed || die "kubernetes-validate $KUBERNETES_VALIDATE_VERSION missing after install"
fi
command -v ip >/dev/null || apt_install iproute2

# ---------------------------------------------------------------- npm packages
NODE_DIR="$PREFIX/node"
mkdir -p "$NODE_DIR"
npm_version() { # prints the installed version of a package in $NODE_DIR, or nothing
    local pj="$NODE_DIR/node_modules/$1/package.json"
    [ -f "$pj" ] && node -e 'process.stdout.write(require(process.argv[1]).version)' "$pj" 2>/dev/null
}
npm_wanted=()
[ "$(npm_version meshcentral || true)" = "$MESHCENTRAL_VERSION" ] || npm_wanted+=("meshcentral@$MESHCENTRAL_VERSION")
[ "$(npm_version @device-management-toolkit/wsman-messages || true)" = "$WSMAN_MESSAGES_VERSION" ] \
    || npm_wanted+=("@device-management-toolkit/wsman-messages@$WSMAN_MESSAGES_VERSION")
[ "$(npm_version xml2js || true)" = "$XML2JS_VERSION" ] || npm_wanted+=("xml2js@$XML2JS_VERSION")
if ((${#npm_wanted[@]})); then
    command -v npm >/dev/null || die "npm not found"
    [ -f "$NODE_DIR/package.json" ] || printf '{\n  "name": "amtemu-clients",\n  "private": true\n}\n' >"$NODE_DIR/package.json"
    log "npm install ${npm_wanted[*]}"
    # Always name all three so npm keeps them all in package.json/lock.
    (cd "$NODE_DIR" && npm install --no-audit --no-fund --omit=optional --ignore-scripts \
        --loglevel=error --save-exact \
        "meshcentral@$MESHCENTRAL_VERSION" \
        "@device-management-toolkit/wsman-messages@$WSMAN_MESSAGES_VERSION" \
        "xml2js@$XML2JS_VERSION" >&2) || die "npm install failed"
fi
[ "$(npm_version meshcentral || true)" = "$MESHCENTRAL_VERSION" ] || die "meshcentral $MESHCENTRAL_VERSION missing"
[ "$(npm_version @device-management-toolkit/wsman-messages || true)" = "$WSMAN_MESSAGES_VERSION" ] || die "wsman-messages missing"
[ "$(npm_version xml2js || true)" = "$XML2JS_VERSION" ] || die "xml2js missing"
for f in amt-wsman-comm.js amt-wsman.js amt-xml.js amt.js; do
    [ -f "$NODE_DIR/node_modules/meshcentral/amt/$f" ] || die "meshcentral/amt/$f missing"
done

# ---------------------------------------------------------------- QEMU host (tests/qemu_host.rs)
# QEMU and what tests/qemu/build-image.sh needs to make the tiny guest (a
# Debian kernel, a busybox initramfs, a GRUB boot ISO); the guest is built
# here, at install time, so tests never download anything.
QEMU_PACKAGES=(qemu-system-x86 busybox-static cpio xorriso grub-pc-bin grub-common mtools)
qemu_missing=()
for pkg in "${QEMU_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        qemu_missing+=("$pkg")
    fi
done
if ((${#qemu_missing[@]})); then
    apt_install "${qemu_missing[@]}"
fi
AMT_CLIENTS_PREFIX="$PREFIX" "$(dirname "${BASH_SOURCE[0]}")/../qemu/build-image.sh" >/dev/null \
    || die "tests/qemu/build-image.sh failed"
# ---------------------------------------------------------------- dashboard (tests/dashboard.rs)
# Debian's chromium, driven by playwright-core (no browser download: it
# launches /usr/bin/chromium); and the dashboard's vendored libraries
# rebuilt from their lock file, which tests/dashboard.rs compares with the
# committed emulator/server/dashboard/vendor/.
PLAYWRIGHT_CORE_VERSION="1.65.2"
DASH_DIR="$PREFIX/dashboard"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if ! dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q 'install ok installed'; then
    apt_install chromium
fi
[ -x /usr/bin/chromium ] || die "chromium not found after apt install"
mkdir -p "$DASH_DIR/driver"
if [ "$(node -e 'process.stdout.write(require(process.argv[1]).version)' \
        "$DASH_DIR/driver/node_modules/playwright-core/package.json" 2>/dev/null || true)" != "$PLAYWRIGHT_CORE_VERSION" ]; then
    [ -f "$DASH_DIR/driver/package.json" ] || printf '{\n  "name": "amtemu-dashboard-driver",\n  "private": true\n}\n' >"$DASH_DIR/driver/package.json"
    log "npm install playwright-core@$PLAYWRIGHT_CORE_VERSION"
    (cd "$DASH_DIR/driver" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error --save-exact \
        "playwright-core@$PLAYWRIGHT_CORE_VERSION" >&2) || die "npm install playwright-core failed"
fi
lock_sum="$(cat "$REPO_ROOT/emulator/server/dashboard/package-lock.json" "$REPO_ROOT/emulator/server/dashboard/build.sh" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$DASH_DIR/vendor.sum" 2>/dev/null || true)" != "$lock_sum" ]; then
    log "building the dashboard's libraries from their lock file"
    rm -rf "$DASH_DIR/vendor"
    DASHBOARD_BUILD_DIR="$DASH_DIR/build" "$REPO_ROOT/emulator/server/dashboard/build.sh" "$DASH_DIR/vendor" \
        || die "emulator/server/dashboard/build.sh failed"
    echo "$lock_sum" >"$DASH_DIR/vendor.sum"
fi
log "dashboard: $(/usr/bin/chromium --version 2>/dev/null), playwright-core $PLAYWRIGHT_CORE_VERSION"

# ---------------------------------------------------------------- marker
wsl_version="$(dpkg-query -W -f='${Version}' wsl 2>/dev/null || echo '?')"
amtterm_version="$(dpkg-query -W -f='${Version}' amtterm 2>/dev/null || echo '?')"
marker="$PREFIX/versions.txt"
{
    echo "prefix=$PREFIX"
    echo "node=$(node --version)"
    echo "python=$("$VENV/bin/python" --version 2>&1 | cut -d' ' -f2)"
    echo "amt(pypi)=$AMT_PY_VERSION"
    echo "vncdotool(pypi)=$VNCDOTOOL_VERSION"
    echo "kubernetes-validate(pypi)=$KUBERNETES_VALIDATE_VERSION"
    echo "meshcentral=$MESHCENTRAL_VERSION"
    echo "@device-management-toolkit/wsman-messages=$WSMAN_MESSAGES_VERSION"
    echo "xml2js=$XML2JS_VERSION"
    echo "wsl(deb)=$wsl_version"
    echo "amtterm(deb)=$amtterm_version"
    echo "qemu-system-x86(deb)=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null || echo '?')"
    echo "qemu-guest-kernel=$(cat "$PREFIX/qemu-guest/kernel-package" 2>/dev/null || echo '?')"
    echo "samba(deb)=$(dpkg-query -W -f='${Version}' samba 2>/dev/null || echo '?')"
    echo "pywinrm(pypi)=$PYWINRM_VERSION"
} >"$marker.tmp"
mv "$marker.tmp" "$marker"
cat "$marker"
