#!/usr/bin/env python3
"""Drive the PyPI `amt` library (amtctrl's amt.client.Client) against any port/user.

    amtctrl_drive.py HOST PORT USER PASS OP [--tls]

OP: status | on | off | reboot | pxeboot | softoff  (pxeboot = pxe_next_boot + power_cycle,
as the CLI; softoff = the library's power_state_request with DSP1027 12, graceful off).
Run it with the venv's python ($AMT_CLIENTS_PREFIX/venv/bin/python). Prints one JSON
object as the last stdout line; exit 0 only on success.
"""

import contextlib
import functools
import io
import json
import re
import sys


def emit(obj, code):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
    sys.exit(code)


def is_loopback(host):
    if host in ("localhost", "::1", "[::1]"):
        return True
    m = re.fullmatch(r"127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", host)
    return bool(m) and all(int(x) <= 255 for x in m.groups())


def main(argv):
    flags = {a for a in argv if a.startswith("--")}
    pos = [a for a in argv if not a.startswith("--")]
    base = {"ok": False, "client": "amtctrl", "mode": "library"}
    if len(pos) < 5:
        base["error"] = "usage: amtctrl_drive.py HOST PORT USER PASS status|on|off|reboot|pxeboot [--tls]"
        emit(base, 2)
    host, port, user, password, op = pos[:5]
    base["op"] = op
    import os

    if not is_loopback(host) and os.environ.get("AMT_CLIENTS_ALLOW_REMOTE") != "1":
        base["error"] = "refusing non-loopback host " + host
        emit(base, 2)
    use_tls = "--tls" in flags or (port == "16993" and "--no-tls" not in flags)

    import requests
    import amt.client
    import amt.wsman

    protocol = "https" if use_tls else "http"
    client = amt.client.Client(host, password, username=user, protocol=protocol)
    client.uri = "%s://%s:%s/wsman" % (protocol, host, port)
    timeout = float(os.environ.get("AMT_DRIVER_IO_TIMEOUT", "20"))

    # The library calls requests.post() without verify/timeout; give it both.
    class _Requests:
        def __getattr__(self, name):
            return getattr(requests, name)

        post = staticmethod(functools.partial(requests.post, verify=not use_tls, timeout=timeout))

    amt.client.requests = _Requests()
    if use_tls:
        import urllib3

        urllib3.disable_warnings()

    out = io.StringIO()
    result = dict(base, tls=use_tls, uri=client.uri)
    try:
        with contextlib.redirect_stdout(out):
            if op == "status":
                state = client.power_status()
                result["powerstate"] = int(state)
                result["status"] = amt.wsman.friendly_power_state(state)
                rv = 0
            elif op == "on":
                rv = client.power_on()
            elif op == "off":
                rv = client.power_off()
            elif op == "reboot":
                rv = client.power_cycle()
            elif op == "softoff":
                # The library builds the request from its POWER_STATES table,
                # which lacks graceful off; the value is DSP1027's.
                amt.wsman.POWER_STATES["softoff"] = 12
                payload = amt.wsman.power_state_request(client.uri, "softoff")
                rv = client.post(payload, amt.client.CIM_PowerManagementService)
            elif op == "pxeboot":
                client.pxe_next_boot()
                rv = client.power_cycle()
            else:
                result["error"] = "unknown op %s (status|on|off|reboot|pxeboot|softoff)" % op
                emit(result, 2)
    except requests.exceptions.HTTPError as e:
        result["error"] = "HTTP error: %s" % e
        result["http_status"] = e.response.status_code if e.response is not None else None
        result["output"] = out.getvalue()
        emit(result, 1)
    except Exception as e:  # parse errors (ElementTree), connection errors, missing elements
        result["error"] = "%s: %s" % (type(e).__name__, e)
        result["output"] = out.getvalue()
        emit(result, 1)
    printed = out.getvalue()
    result["output"] = printed
    if rv != 0:
        # Client.post() prints the whole answer when ReturnValue != 0 and returns None.
        result["error"] = "ReturnValue was not 0 (the library printed the answer)"
        m = re.search(r"ReturnValue>(\d+)<", printed)
        result["return_value"] = int(m.group(1)) if m else None
        emit(result, 1)
    if op != "status":
        result["return_value"] = 0
    result["ok"] = True
    emit(result, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
