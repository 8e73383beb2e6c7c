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
    echo "meshcentral=$MESHCENTRAL_VERSION"
    echo "@device-management-toolkit/wsman-messages=$WSMAN_MESSAGES_VERSION"
    echo "xml2js=$XML2JS_VERSION"
    echo "wsl(deb)=$wsl_version"
    echo "amtterm(deb)=$amtterm_version"
} >"$marker.tmp"
mv "$marker.tmp" "$marker"
cat "$marker"
