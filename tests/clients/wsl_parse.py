#!/usr/bin/env python3
"""Check the responses that Debian `wsl` saved (OUTPREFIX/response-N.xml) with a real
XML parser and print the driver's JSON result. Used by wsl.sh.

    wsl_parse.py OP OUTDIR WSL_RC [EXPECTED_ELEMENT [IGNORE_RC1]]

IGNORE_RC1=1: wsl's exit status 1 is meaningless for this call. `wsl get` without
selectors greps its answer for ":\>" (an empty selector name), which never matches,
so it always exits 1 whatever the server said.

Prints one JSON object; exit 0 only when the answers are what the client needs.
"""

import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET

SOAP = "http://www.w3.org/2003/05/soap-envelope"


def local(tag):
    return tag.rsplit("}", 1)[-1]


def scalar(text):
    if text is None:
        return None
    t = text.strip()
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    if t in ("true", "false"):
        return t == "true"
    return t


class Fail(Exception):
    def __init__(self, msg, **extra):
        super().__init__(msg)
        self.extra = extra


def responses(outdir):
    files = sorted(glob.glob(os.path.join(outdir, "response-*.xml")),
                   key=lambda p: int(re.search(r"response-(\d+)\.xml$", p).group(1)))
    if not files:
        raise Fail("wsl saved no response file")
    return files


def parse(path):
    with open(path, "rb") as f:
        data = f.read()
    if not data.strip():
        raise Fail("%s is empty (wget discards the body of an HTTP error; see log)" % os.path.basename(path))
    try:
        root = ET.fromstring(data)
    except ET.ParseError as e:
        raise Fail("%s is not well-formed XML: %s" % (os.path.basename(path), e),
                   head=data[:300].decode("utf-8", "replace"))
    if root.tag != "{%s}Envelope" % SOAP:
        raise Fail("%s: root element is %s, not a SOAP 1.2 Envelope" % (os.path.basename(path), root.tag))
    body = root.find("{%s}Body" % SOAP)
    if body is None:
        raise Fail("%s: no SOAP Body" % os.path.basename(path))
    fault = body.find("{%s}Fault" % SOAP)
    if fault is not None:
        texts = [t.text for t in fault.iter() if local(t.tag) in ("Value", "Text") and t.text]
        raise Fail("%s: SOAP fault: %s" % (os.path.basename(path), " / ".join(texts)))
    return root, body


def first_child(body, what):
    kids = list(body)
    if not kids:
        raise Fail("%s: empty SOAP Body" % what)
    return kids[0]


def props(elem):
    """Leaf children of an instance element → {name: value or [values]}."""
    out = {}
    for c in elem:
        name = local(c.tag)
        val = scalar(c.text) if len(c) == 0 else "<%d child elements>" % len(c)
        if name in out:
            if not isinstance(out[name], list):
                out[name] = [out[name]]
            out[name].append(val)
        else:
            out[name] = val
    return out


def enum_items(files):
    """Items of an Enumerate (+ Pulls) sequence, checking the response kinds."""
    items = []
    kinds = []
    for i, path in enumerate(files):
        _, body = parse(path)
        first = first_child(body, os.path.basename(path))
        kind = local(first.tag)
        kinds.append(kind)
        want = "EnumerateResponse" if i == 0 else "PullResponse"
        if kind != want:
            raise Fail("%s: body is %s, expected %s" % (os.path.basename(path), kind, want))
        for it in first.iter():
            if local(it.tag) == "Items":
                items.extend(list(it))
    return items, kinds


def main(argv):
    op, outdir, wsl_rc = argv[0], argv[1], int(argv[2])
    arg = argv[3] if len(argv) > 3 and argv[3] else None
    ignore_rc1 = len(argv) > 4 and argv[4] == "1"
    res = {"ok": False, "client": "wsl", "op": op, "wsl_rc": wsl_rc}
    log = os.path.join(outdir, "log.txt")
    if os.path.exists(log):
        with open(log, encoding="utf-8", errors="replace") as f:
            # wget: "HTTP request sent, awaiting response... 401 Unauthorized"
            res["http_statuses"] = [int(m) for m in re.findall(r"awaiting response\.\.\. (\d{3})", f.read())]
    try:
        files = responses(outdir)
        res["responses"] = len(files)
        if op == "identify":
            _, body = parse(files[-1])
            idr = first_child(body, "identify")
            if local(idr.tag) != "IdentifyResponse":
                raise Fail("body is %s, expected IdentifyResponse" % local(idr.tag))
            p = props(idr)
            res.update(product_vendor=p.get("ProductVendor"), product_version=p.get("ProductVersion"),
                       protocol_version=p.get("ProtocolVersion"))
            if not isinstance(res["product_version"], str):
                raise Fail("no ProductVersion in IdentifyResponse")
        elif op in ("enum", "version"):
            items, kinds = enum_items(files)
            res.update(count=len(items), pulls=len(kinds) - 1,
                       elements=sorted({local(i.tag) for i in items}))
            res["items"] = [props(i) for i in items]
            if op == "version":
                amt = [i for i in res["items"] if i.get("InstanceID") == "AMT"]
                if not amt:
                    raise Fail("no CIM_SoftwareIdentity item with InstanceID=AMT")
                res["version"] = str(amt[0].get("VersionString"))
                del res["items"]
        elif op in ("get", "settings", "powerstate"):
            _, body = parse(files[-1])
            inst = first_child(body, "get")
            res["element"] = local(inst.tag)
            p = props(inst)
            res["properties"] = p
            if arg and res["element"] != arg:
                raise Fail("Get %s answered with a %s element" % (arg, res["element"]))
            if op == "settings":
                res.update(hostname=p.get("HostName"), digest_realm=p.get("DigestRealm"))
                if not isinstance(res["hostname"], str) or not isinstance(res["digest_realm"], str):
                    raise Fail("HostName/DigestRealm missing from AMT_GeneralSettings")
            if op == "powerstate":
                res["powerstate"] = p.get("PowerState")
                if not isinstance(res["powerstate"], int):
                    raise Fail("no integer PowerState in CIM_AssociatedPowerManagementService")
        elif op == "power":
            _, body = parse(files[-1])
            out = first_child(body, "invoke")
            res["element"] = local(out.tag)
            if res["element"] != "RequestPowerStateChange_OUTPUT":
                raise Fail("body is %s, expected RequestPowerStateChange_OUTPUT" % res["element"])
            rv = props(out).get("ReturnValue")
            res["return_value"] = rv
            if rv != 0:
                raise Fail("ReturnValue %r" % rv)
        else:
            raise Fail("unknown op " + op)
        if wsl_rc == 1 and ignore_rc1:
            res["wsl_rc_ignored"] = "wsl get without selectors always exits 1"
        elif wsl_rc != 0:
            raise Fail("wsl exited %d although the answers parse" % wsl_rc)
        res["ok"] = True
    except Fail as e:
        res["error"] = str(e)
        res.update(e.extra)
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
