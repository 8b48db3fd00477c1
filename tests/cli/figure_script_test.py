#!/usr/bin/python3
"""`fusionlens-cli render` of figure specs whose columns are TorchScript points and captures
(issue 13): on the fixtures of tests/script/make_script_fixtures.py (python3-torch, made at
test time into FL_SCRIPT_FIXTURES).

  figure_script_test.py NAME    one case; exit 0 when it passes
"""
import csv
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_support import cli, fail, render_error, render_ok  # noqa: E402 (tests/ on the path first)

FIX = os.path.abspath(os.environ.get("FL_SCRIPT_FIXTURES", "build/script_fixtures"))
SRC = os.path.abspath(os.environ.get("FL_SOURCE_DIR", "."))


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def read_safetensors(path):
    """name -> (shape, flat float list) of a float32 safetensors file (stdlib only)."""
    import struct
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        raw = data[8 + n + a:8 + n + b]
        out[k] = (v["shape"], list(struct.unpack("<%df" % (len(raw) // 4), raw)))
    return out


def entropy(values):
    """Normalised Shannon entropy of p = w / sum(w) (docs/figures.md, map_entropy)."""
    s = sum(values)
    h = -sum((v / s) * math.log(v / s) for v in values if v > 0)
    return h / math.log(len(values))


def stats_of(path):
    return list(csv.DictReader(open(path + ".stats.csv", newline="")))


def write(tmp, spec, name="spec.json"):
    spec = {"schema_version": 1, **spec}
    path = os.path.join(tmp, name)
    json.dump(spec, open(path, "w"), indent=1)
    return path


NET = os.path.join(FIX, "net.pt")
NET_IN = os.path.join(FIX, "net.inputs.safetensors")
P0 = "layers.0.cbam.SpatialGate.sigmoid"
P1 = "layers.1.cbam.SpatialGate.sigmoid"
C1 = "layers.1.cbam.ChannelGate.sigmoid"


def case_script_points(tmp):
    """Three points of one network as columns: the maps and bars are the network's own
    values (the statistics of the rendered figure equal those of Python's hooked values),
    the sha256 is checked, and the spec written beside the figure renders it again."""
    spec = write(tmp, {
        "inputs": [NET_IN],
        "columns": [{"script": NET, "point": P0, "sha256": sha(NET), "label": "depth 1"},
                    {"script": NET, "point": P1, "label": "depth 2"},
                    {"script": NET, "point": C1, "label": "channels"}],
        "rows": ["auto"],
        "scale": {"normalisation": "natural", "shared": True},
        "layout": {"width": "single", "dpi": 150},
    })
    out = os.path.join(tmp, "fig.png")
    render_ok(spec, "--out", out)
    expected = read_safetensors(os.path.join(FIX, "net.expected.safetensors"))
    got = {(r["statistic"], r["module_a"]): float(r["value"]) for r in stats_of(out)}
    for label, point in (("depth 1", P0), ("depth 2", P1)):
        want = entropy(expected[point][1])
        if abs(got.get(("map_entropy", label), -1) - want) > 1e-4:
            fail(f"map_entropy of {label}: {got.get(('map_entropy', label))}, Python's {want}")
    want = entropy(expected[C1][1])
    if abs(got.get(("channel_entropy", "channels"), -1) - want) > 1e-4:
        fail(f"channel_entropy of the channel point: {got.get(('channel_entropy', 'channels'))}, Python's {want}")
    beside = json.load(open(out + ".spec.json"))
    col = beside["columns"][0]
    if col.get("script") != os.path.relpath(NET, tmp) or col.get("sha256") != sha(NET) or col.get("point") != P0:
        fail(f"the spec beside the figure: {col}")
    if beside["columns"][1].get("sha256") != sha(NET):
        fail("the spec beside the figure lacks the second column's sha256")
    if "module" in col or "weights" in col:
        fail(f"a script column written with module keys: {col}")
    again = os.path.join(tmp, "again.png")
    render_ok(out + ".spec.json", "--out", again)
    if open(out, "rb").read() != open(again, "rb").read():
        fail("the spec beside the figure does not give the same PNG")


def case_script_image_column(tmp):
    """A network on an image: the column's own input and features (RGB at stride 1, as the
    network reads it) beside a built-in module on the spec's filter-bank features."""
    img = os.path.join(SRC, "resources", "images", "fruits.jpg")
    spec = write(tmp, {
        "inputs": [img],
        # the module's grid is the network's first CBAM's (stride 2 on the same image): IoU
        "features": ["filterbank:channels=16,stride=2,max_side=96"],
        "columns": [{"module": "cbam"},
                    {"script": NET, "point": P0, "features": "rgb:stride=1,standardize=0,max_side=96"}],
    })
    out = os.path.join(tmp, "fig.png")
    render_ok(spec, "--out", out)
    if not any(r["statistic"] == "map_iou_top10%" for r in stats_of(out)):
        fail("no IoU between the module's and the network's maps")


def case_capture_column(tmp):
    """A capture as a column: its trace runs on the inputs it holds."""
    cap = os.path.join(FIX, "aff_match.flcap")
    spec = write(tmp, {"inputs": [NET_IN], "columns": [{"capture": cap, "sha256": sha(cap)}]})
    out = os.path.join(tmp, "fig.png")
    render_ok(spec, "--out", out)
    beside = json.load(open(out + ".spec.json"))["columns"][0]
    if beside.get("capture") != os.path.relpath(cap, tmp) or beside.get("sha256") != sha(cap):
        fail(f"the spec beside the figure: {beside}")
    if not any(r["statistic"] == "map_entropy" for r in stats_of(out)):
        fail(f"no map statistics for the capture's gate: {stats_of(out)}")


def case_script_refusals(tmp):
    """Changed files, unknown points and wrong inputs: one line, exit 2."""
    out = os.path.join(tmp, "x.png")
    changed = write(tmp, {"inputs": [NET_IN], "columns": [{"script": NET, "point": P0, "sha256": "0" * 64}]})
    render_error(changed, "--out", out, expect=r"net\.pt: changed since the spec was written")
    cap = os.path.join(FIX, "aff_match.flcap")
    changed_cap = write(tmp, {"inputs": [NET_IN], "columns": [{"capture": cap, "sha256": "1" * 64}]}, "c.json")
    render_error(changed_cap, "--out", out, expect=r"aff_match\.flcap: changed since the spec was written")
    render_ok(changed, "--out", out, "--ignore-hashes")
    unknown = write(tmp, {"inputs": [NET_IN], "columns": [{"script": NET, "point": "layers.9.sigmoid"}]}, "u.json")
    render_error(unknown, "--out", os.path.join(tmp, "u.png"),
                 expect=r"columns\[0\].*has no point 'layers\.9\.sigmoid'.*" + re.escape(P0))
    missing = write(tmp, {"inputs": [NET_IN], "columns": [{"script": os.path.join(tmp, "nope.pt")}]}, "m.json")
    render_error(missing, "--out", os.path.join(tmp, "m.png"), expect=r"columns\[0\].*nope\.pt' does not exist")
    not_ts = os.path.join(tmp, "fake.pt")
    open(not_ts, "wb").write(b"not a zip")
    bad = write(tmp, {"inputs": [NET_IN], "columns": [{"script": not_ts}]}, "b.json")
    render_error(bad, "--out", os.path.join(tmp, "b.png"), expect=r"columns\[0\].*fake\.pt")
    typo = write(tmp, {"inputs": [NET_IN], "columns": [{"script": NET, "piont": P0}]}, "t.json")
    render_error(typo, "--out", os.path.join(tmp, "t.png"), expect=r"columns\[0\]\.piont")
    unsafe = os.path.join(FIX, "unsafe_print.pt")
    if os.path.exists(unsafe):
        u = write(tmp, {"inputs": [NET_IN], "columns": [{"script": unsafe}]}, "p.json")
        render_error(u, "--out", os.path.join(tmp, "p.png"), expect=r"columns\[0\].*print")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: figure_script_test.py " + "|".join(CASES))
        sys.exit(2)
    with tempfile.TemporaryDirectory() as tmp:
        CASES[sys.argv[1]](tmp)
    print("ok")
