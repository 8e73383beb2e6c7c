#!/usr/bin/env bash
# Drive Debian's amtterm (serial-over-LAN console) against an AMT device.
#
#   amtterm.sh HOST PORT USER PASS STEP...
#
# Steps (expect:TEXT, send:TEXT, sleep:SECS) are run by amtterm_drive.py with
# amtterm in a pseudo-terminal; see there. Prints one JSON object as the last
# stdout line; exit 0 only on success.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python3 "$HERE/amtterm_drive.py" "$@"
