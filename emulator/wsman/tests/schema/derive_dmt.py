#!/usr/bin/env python3
"""Derives property names and types per class from the DMT message builder's
TypeScript models (npm @device-management-toolkit/wsman-messages, installed
by tests/clients/install.sh) and prints them in the format of classes.txt.

With --captures DIR, properties seen in real AMT responses (the
go-wsman-messages mock responses, captured from firmware; see
tests/data/fixtures/http/README.md for the family) are merged in, typed
from their XML: a nested Datetime is a datetime, an EPR a ref, true/false
a boolean, digits an integer (DMT's `number[]` for uint8[] arrays is base64
on the wire, and the captures show it).

Run once to draft entries; classes.txt is the reviewed result (entries
neither source has come from Intel's AMT SDK class reference and say so).

    python3 emulator/wsman/tests/schema/derive_dmt.py [--captures DIR] CLASS... > draft.txt
"""
import os
import re
import sys

PREFIX = os.environ.get("AMT_CLIENTS_PREFIX", os.path.expanduser("~/.cache/amtemu-clients"))
ROOT = os.path.join(PREFIX, "node/node_modules/@device-management-toolkit/wsman-messages")
NAMESPACES = {"AMT": "amt", "CIM": "cim", "IPS": "ips"}


def ts_type(t):
    """A TypeScript property type as a schema type."""
    t = t.strip().rstrip(";")
    array = t.endswith("[]")
    t = t[:-2] if array else t
    if t == "string":
        kind = "string"
    elif t == "boolean":
        kind = "boolean"
    elif t == "Date":
        kind = "datetime"
    elif t == "number" or t.startswith("Types.") or re.fullmatch(r"[0-9 |]+", t):
        kind = "integer"
    else:
        kind = "any"
    return kind


def parse(ns):
    """interface name -> (bases, {prop: type}) for one models.d.ts."""
    text = open(os.path.join(ROOT, ns, "models.d.ts")).read()
    out = {}
    for m in re.finditer(r"type (\w+) = ([\w.]+);", text):
        out[m.group(1)] = ([m.group(2)], {})
    for m in re.finditer(r"interface (\w+)(?: extends ([^{]+))? \{", text):
        name, bases = m.group(1), m.group(2)
        bases = [b.strip() for b in bases.split(",")] if bases else []
        depth, i, props = 1, m.end(), {}
        body_start = i
        while depth and i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
            i += 1
        body = text[body_start:i - 1]
        nested = re.match(r"\s*(?:AMT|CIM|IPS)_\w+\??: \{(.*)\}( & ([\w.]+))?;\s*$", body, re.S)
        if nested:
            body = nested.group(1)
            if nested.group(3):
                bases.append(nested.group(3))
        for p in re.finditer(r"^\s*(\w+)\??: ([^;{]+);", body, re.M):
            props[p.group(1)] = ts_type(p.group(2))
        out[name] = (bases, props)
    return out


MODELS = {ns: parse(ns) for ns in NAMESPACES.values()}


def resolve(ns, name, seen=()):
    if name.startswith("CIM.Models."):
        ns, name = "cim", name[len("CIM.Models."):]
    if name in seen or name not in MODELS[ns]:
        return {}
    bases, props = MODELS[ns][name]
    merged = {}
    for b in bases:
        merged.update(resolve(ns, b, seen + (name,)))
    merged.update(props)
    return merged


def captured(directory):
    """class -> {prop: type} from captured Get/Pull responses."""
    import xml.etree.ElementTree as ET
    seen = {}
    for f in sorted(os.listdir(directory)):
        if not f.endswith(".xml"):
            continue
        try:
            root = ET.parse(os.path.join(directory, f)).getroot()
        except ET.ParseError:
            continue
        body = next((e for e in root.iter() if e.tag.endswith("}Body")), None)
        if body is None:
            continue
        for inst in body.iter():
            name = inst.tag.split("}")[-1]
            if not re.fullmatch(r"(AMT|CIM|IPS)_\w+", name) or name.endswith(("_OUTPUT", "_INPUT")):
                continue
            props = seen.setdefault(name, {})
            for p in inst:
                pname = p.tag.split("}")[-1]
                kids = [k.tag.split("}")[-1] for k in p]
                text = (p.text or "").strip()
                if "Datetime" in kids:
                    kind = "datetime"
                elif "Interval" in kids:
                    kind = "interval"
                elif "ReferenceParameters" in kids:
                    kind = "ref"
                elif kids:
                    kind = "object"
                elif text in ("true", "false"):
                    kind = "boolean"
                elif re.fullmatch(r"-?[0-9]+", text):
                    kind = "integer"
                else:
                    kind = "string"
                props.setdefault(pname, kind)
    return seen


args = sys.argv[1:]
CAPTURED = {}
if args[:1] == ["--captures"]:
    CAPTURED = captured(args[1])
    args = args[2:]

for cls in args:
    prefix, short = cls.split("_", 1)
    props = resolve(NAMESPACES[prefix], short)
    seen = CAPTURED.get(cls, {})
    sources = (["dmt"] if props else []) + (["capture"] if seen else [])
    if not sources:
        print(f"# {cls}: in neither the DMT models nor the captures")
        continue
    for name, kind in seen.items():
        # A capture shows what the wire carries; DMT's number[] for a byte
        # array is base64 text there.
        if name not in props or (props[name] == "integer" and kind == "string"):
            props[name] = kind
    print(f"[{cls}] source={'+'.join(sources)}")
    for name in sorted(props):
        print(f"{name} {props[name]}")
    print()
