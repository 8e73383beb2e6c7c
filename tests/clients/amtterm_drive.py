#!/usr/bin/env python3
"""Drive Debian's amtterm (1.4) in a pseudo-terminal, as a person would.

    amtterm_drive.py HOST PORT USER PASS STEP...

STEP is one of
    expect:TEXT   wait (up to AMT_DRIVER_STEP_TIMEOUT s, default 30) until TEXT
                  has appeared in amtterm's output since the previous expect
    send:TEXT     type TEXT; "\\r" and "\\n" in TEXT are escapes for CR and LF
    sleep:SECS    wait
At the end the driver types ^] (amtterm's escape) and waits for amtterm to exit.
The password goes through $AMT_PASSWORD, not the command line. Prints one JSON
object as the last stdout line; exit 0 only when every step succeeded and
amtterm exited 0.
"""

import json
import os
import pty
import re
import select
import shutil
import sys
import time


def emit(obj, code):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
    sys.exit(code)


def is_loopback(host):
    m = re.fullmatch(r"127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})", host)
    return bool(m) and all(int(x) <= 255 for x in m.groups())


class Terminal:
    def __init__(self, argv, env):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(argv[0], argv, env)
        self.output = b""
        self.mark = 0

    def pump(self, timeout):
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.output += data
        return True

    def expect(self, text, timeout):
        needle = text.encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            at = self.output.find(needle, self.mark)
            if at >= 0:
                self.mark = at + len(needle)
                return True
            if not self.pump(min(0.2, max(0.0, deadline - time.monotonic()))):
                return self.output.find(needle, self.mark) >= 0
        return False

    def send(self, text):
        os.write(self.fd, text.encode())

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            self.pump(0.1)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        return None


def main(argv):
    base = {"ok": False, "client": "amtterm"}
    if len(argv) < 4:
        base["error"] = "usage: amtterm_drive.py HOST PORT USER PASS STEP..."
        emit(base, 2)
    host, port, user, password = argv[:4]
    steps = argv[4:]
    if not is_loopback(host):
        base["error"] = "refusing non-loopback host " + host
        emit(base, 2)
    amtterm = shutil.which("amtterm")
    if not amtterm:
        base["error"] = "amtterm not installed"
        emit(base, 1)
    step_timeout = float(os.environ.get("AMT_DRIVER_STEP_TIMEOUT", "30"))
    env = dict(os.environ, AMT_PASSWORD=password, TERM="xterm")
    term = Terminal([amtterm, "-u", user, host, port], env)
    done = []
    failed = None
    started = time.monotonic()
    for step in steps:
        kind, _, arg = step.partition(":")
        if kind == "expect":
            if not term.expect(arg, step_timeout):
                failed = step
                break
        elif kind == "send":
            term.send(arg.replace("\\r", "\r").replace("\\n", "\n"))
        elif kind == "sleep":
            time.sleep(float(arg))
        else:
            failed = "unknown step " + step
            break
        done.append(step)
    term.send("\x1d")
    rc = term.wait(10)
    text = term.output.decode("utf-8", "replace")
    base.update(
        steps_done=done,
        rc=rc,
        seconds=round(time.monotonic() - started, 2),
        run_sol="RUN_SOL" in text,
        output_tail=text[-1500:],
    )
    if failed:
        base["error"] = "step failed: " + failed
        emit(base, 1)
    if rc != 0:
        base["error"] = "amtterm exited with %r" % rc
        emit(base, 1)
    base["ok"] = True
    emit(base, 0)


if __name__ == "__main__":
    main(sys.argv[1:])
