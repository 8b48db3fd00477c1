#!/usr/bin/python3
"""The C++ registry and the docs against the reference's module table.

usage: check_registry.py registry|docs

registry: `fusionlens-cli list --json` and `info ID --json` agree with
          fl_reference.MODULES (ids in registration order, inputs, outputs, probes, parameter
          names, kinds and defaults). The names are a contract (CLI, sessions, other tools);
          the reference table is the one place in the tests that states them.
docs:     docs/modules.md has a section per module that names each of its parameters and
          probes (and the module's id appears in the overview table).

Environment: FL_CLI (the binary), FL_SOURCE_DIR.
"""

import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fl_reference as ref  # noqa: E402

KIND = {"int": "int", "float": "float", "bool": "bool", "str": "choice", "intlist": "int-list"}


def cli_json(*args):
    out = subprocess.run([os.environ["FL_CLI"], *args, "--json"], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120).stdout
    return json.loads(out)


def same_default(kind, a, b):
    if kind == "float":
        return float(a) == float(b)
    if kind == "intlist":
        return [int(v) for v in a.split(",")] == [int(v) for v in b.split(",")]
    if kind == "bool":
        return ref._parse("bool", a) == ref._parse("bool", b)
    return a == b


def check_registry():
    problems = []
    listed = cli_json("list")
    ids = [m["id"] for m in listed]
    if ids != ref.MODULE_IDS:
        problems.append("registration order %s, reference table %s" % (ids, ref.MODULE_IDS))
    for want in ref.describe():
        mid = want["id"]
        if mid not in ids:
            problems.append("%s: not registered" % mid)
            continue
        info = cli_json("info", mid)
        got_inputs = [i["name"] for i in info["inputs"]]
        got_probes = [p["name"] for p in info["probes"]]
        for what, got, exp in (("inputs", got_inputs, want["inputs"]),
                               ("outputs", info["outputs"], want["outputs"]),
                               ("probes", got_probes, want["probes"])):
            if got != exp:
                problems.append("%s: %s %s, reference %s" % (mid, what, got, exp))
        got_params = {p["name"]: p for p in info["params"]}
        exp_names = [p["name"] for p in want["params"]]
        if list(got_params) != exp_names:
            problems.append("%s: parameters %s, reference %s" % (mid, list(got_params), exp_names))
            continue
        for p in want["params"]:
            g = got_params[p["name"]]
            if g["type"] != KIND[p["kind"]]:
                problems.append("%s.%s: type %s, reference %s" % (mid, p["name"], g["type"], p["kind"]))
            elif not same_default(p["kind"], g["default"], p["default"]):
                problems.append("%s.%s: default %r, reference %r" % (mid, p["name"], g["default"],
                                                                   p["default"]))
    return problems


def check_docs():
    path = os.path.join(os.environ["FL_SOURCE_DIR"], "docs", "modules.md")
    text = open(path, encoding="utf-8").read()
    sections = re.split(r"\n### ", text)
    by_id = {}
    for s in sections[1:]:
        by_id[s.split("\n", 1)[0].strip()] = s
    problems = []
    overview = text.split("## Overview", 1)[-1].split("\n## ", 1)[0]
    for want in ref.describe():
        mid = want["id"]
        if mid not in by_id:
            problems.append("docs/modules.md has no '### %s' section" % mid)
            continue
        body = by_id[mid]
        if "`%s`" % mid not in overview and mid not in overview:
            problems.append("%s: missing from the overview table" % mid)
        for p in want["params"]:
            if "`%s`" % p["name"] not in body and p["name"] not in body:
                problems.append("%s: parameter %s not documented" % (mid, p["name"]))
        for probe in want["probes"]:
            if "`%s`" % probe not in body and probe not in body:
                problems.append("%s: probe %s not documented" % (mid, probe))
    return problems


def main():
    if sys.argv[1:] not in (["registry"], ["docs"]):
        print(__doc__, file=sys.stderr)
        return 2
    problems = check_registry() if sys.argv[1] == "registry" else check_docs()
    for p in problems:
        print("FAIL: " + p)
    print("%s: %d module(s), %d problem(s)" % (sys.argv[1], len(ref.MODULE_IDS), len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
