#!/usr/bin/python3
"""The trained demo networks of resources/demo/ (scripts/train_demo.py) through FusionLens's
own C++ path.

    demo_test.py files NAME      the manifest's files exist and have the recorded SHA-256
    demo_test.py accuracy NAME   `fusionlens-cli run --script NAME.pt` on the first 1,000
                                 Fashion-MNIST test images (written here as .npy) reproduces
                                 the manifest's accuracy on them within 0.5 points, and is
                                 >= 85% (plain stacks and fusion networks alike)
    demo_test.py capture NAME    `fusionlens-cli run --capture` of each of its captures
                                 (cbam-2depth: one per depth) matches the built-in module
                                 (exit 0, "matches your PyTorch run")
    demo_test.py points NAME     `fusionlens-cli inspect NAME.pt` lists the attention points
                                 of every depth (names, kinds, shapes, strides) of a network
                                 with the module at several depths (EXPECTED_POINTS)

tests/demo/CMakeLists.txt registers one ctest per network and check, the names read from
the manifest. FL_DEMO_DIR overrides the directory (default resources/demo/).
"""
import gzip
import hashlib
import json
import os
import struct
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_support import cli, expect, read_safetensors  # noqa: E402 (tests/ on the path first)

SRC = os.environ.get("FL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO = os.environ.get("FL_DEMO_DIR", os.path.join(SRC, "resources", "demo"))
DATA = "/usr/share/datasets/fashion-mnist"
N_IMAGES = 1000
CHUNK = 250            # images per CLI run: bounds the memory of the saved attention probes
TOLERANCE = 0.5        # points of accuracy
MIN_ACCURACY = {"single": 85.0, "fusion": 85.0}  # every shipped network reaches it
# The networks with the module at several depths (manifest "depths"): the points `inspect`
# must list on a 28x28 garment, in graph order: (name, kind, shape, stride or None).
EXPECTED_POINTS = {
    "cbam-2depth": [
        ("att1.ChannelGate.sigmoid", "channel_weights", [1, 32], None),
        ("att1.SpatialGate.sigmoid", "spatial_map", [1, 1, 14, 14], [2.0, 2.0]),
        ("att2.ChannelGate.sigmoid", "channel_weights", [1, 32], None),
        ("att2.SpatialGate.sigmoid", "spatial_map", [1, 1, 7, 7], [4.0, 4.0]),
    ],
}


def manifest_entry(name):
    with open(os.path.join(DEMO, "manifest.json")) as f:
        m = json.load(f)
    nets = m.get("networks", {})
    expect(name in nets, "%s is not in %s/manifest.json" % (name, DEMO))
    return nets[name]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    expect(zero == 0 and dtype == 8, "%s: not an unsigned-byte idx file" % path)
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)


def check_files(name):
    e = manifest_entry(name)
    for key, fname in e["files"].items():
        path = os.path.join(DEMO, fname)
        expect(os.path.isfile(path), "%s: %s (%s) is missing" % (name, path, key))
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        expect(digest == e["sha256"][key], "%s: %s has SHA-256 %s, the manifest says %s" % (
            name, fname, digest, e["sha256"][key]))
    print("ok: %d files of %s match the manifest" % (len(e["files"]), name))


def check_accuracy(name):
    e = manifest_entry(name)
    images = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:N_IMAGES]
    labels = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"))[:N_IMAGES].astype(np.int64)
    x = (images.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    script = os.path.join(DEMO, e["files"]["network"])
    preds = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(0, N_IMAGES, CHUNK):
            npy = os.path.join(tmp, "x%d.npy" % i)
            out = os.path.join(tmp, "out%d.safetensors" % i)
            np.save(npy, np.ascontiguousarray(x[i:i + CHUNK]))
            r = cli("run", "--script", script, "--input", npy, "--save", out, "--quiet", timeout=600)
            expect(r.returncode == 0, "run --script %s: exit %d: %s" % (script, r.returncode, r.stderr))
            saved = read_safetensors(out)[0]
            expect("output" in saved, "%s holds no tensor 'output' (has %s)" % (out, sorted(saved)))
            logits = saved["output"]
            expect(logits.dtype == np.float32, "%s: output is %s, not float32" % (out, logits.dtype))
            expect(logits.shape == (min(CHUNK, N_IMAGES - i), 10), "logits have shape %s" % (logits.shape,))
            preds.append(logits.argmax(axis=1))
    acc = float((np.concatenate(preds) == labels).mean() * 100.0)
    want = float(e["accuracy_first_1000"])
    print("%s: C++ accuracy on the first %d test images %.2f%%, manifest %.2f%% (all 10,000: %.2f%%)" % (
        name, N_IMAGES, acc, want, float(e["accuracy"])))
    expect(abs(acc - want) <= TOLERANCE, "%s: C++ accuracy %.2f%% is not within %.1f points of the "
           "manifest's %.2f%%" % (name, acc, TOLERANCE, want))
    floor = MIN_ACCURACY[e["kind"]]
    expect(acc >= floor and float(e["accuracy"]) >= floor, "%s: accuracy %.2f%% (10,000: %.2f%%) is "
           "below %.0f%%" % (name, acc, float(e["accuracy"]), floor))


def check_capture(name):
    e = manifest_entry(name)
    captures = sorted(k for k in e["files"] if k.startswith("capture"))
    expect(captures, "%s: the manifest lists no capture" % name)
    # one per depth: the module paths the manifest names, each captured
    paths = e.get("module_paths", [e.get("module_path")])
    expect(len(captures) == len(paths), "%s: %d captures for %d module paths" % (name, len(captures), len(paths)))
    for key, module_path in zip(captures, paths):
        path = os.path.join(DEMO, e["files"][key])
        r = cli("run", "--capture", path, timeout=600)
        print(r.stdout.strip())
        expect(r.returncode == 0, "run --capture %s: exit %d: %s%s" % (path, r.returncode, r.stdout, r.stderr))
        expect("built-in " + e["module"] in r.stdout, "%s: not run by the built-in %s" % (path, e["module"]))
        expect("at '%s'" % module_path in r.stdout, "%s: not the module at %s" % (path, module_path))
        expect("matches your PyTorch run" in r.stdout, "%s: no match reported" % path)


def check_points(name):
    e = manifest_entry(name)
    expect(name in EXPECTED_POINTS, "%s: no expected points in demo_test.py (EXPECTED_POINTS)" % name)
    want = EXPECTED_POINTS[name]
    script = os.path.join(DEMO, e["files"]["network"])
    r = cli("inspect", script, "--shape", "1,1,28,28", "--json")
    expect(r.returncode == 0, "inspect %s: exit %d: %s" % (script, r.returncode, r.stderr))
    got = [(p["name"], p["kind"], p["shape"], p["stride"]) for p in json.loads(r.stdout)["points"]]
    expect(got == [tuple(w) for w in want], "%s: inspect lists the points\n  %s\nnot\n  %s" % (
        name, "\n  ".join(map(str, got)), "\n  ".join(map(str, want))))
    # the manifest says the same depths and strides
    strides = [int(w[3][0]) for w in want if w[3]]
    expect(e.get("strides") == strides, "%s: the manifest's strides %s, inspect's %s" % (name, e.get("strides"), strides))
    expect(e.get("depths") == len(strides), "%s: the manifest's depths %s" % (name, e.get("depths")))
    # and the text a person reads: one line per point, the spatial ones with their stride
    r = cli("inspect", script, "--shape", "1,1,28,28")
    expect(r.returncode == 0, "inspect %s: exit %d: %s" % (script, r.returncode, r.stderr))
    lines = r.stdout.splitlines()
    expect(any(l.startswith("attention points (%d)" % len(want)) for l in lines), r.stdout)
    for pname, kind, _, stride in want:
        line = [l for l in lines if l.split()[:1] == [pname]]
        expect(len(line) == 1, "%s: inspect's text lists %s %d times:\n%s" % (name, pname, len(line), r.stdout))
        words = line[0].split()
        expect(words[1] == kind, "%s: %s is listed as %s, not %s" % (name, pname, words[1], kind))
        if stride:
            expect(line[0].rstrip().endswith("stride %d" % stride[0]), "%s: %s: %s" % (name, pname, line[0]))
        else:
            expect("stride" not in line[0], "%s: %s has a stride: %s" % (name, pname, line[0]))
    print("ok: %s lists %s" % (name, ", ".join("%s (%s%s)" % (n, k, ", stride %d" % s[0] if s else "")
                                               for n, k, _, s in want)))


def main():
    checks = {"files": check_files, "accuracy": check_accuracy, "capture": check_capture, "points": check_points}
    if len(sys.argv) != 3 or sys.argv[1] not in checks:
        print(__doc__)
        sys.exit(2)
    checks[sys.argv[1]](sys.argv[2])
    print("PASS")


if __name__ == "__main__":
    main()
