#!/usr/bin/python3
"""The trained demo networks of resources/demo/ (scripts/train_demo.py) through FusionLens's
own C++ path.

    demo_test.py files NAME      the manifest's files exist and have the recorded SHA-256
    demo_test.py accuracy NAME   `fusionlens-cli run --script NAME.pt` on the first 1,000
                                 Fashion-MNIST test images (written here as .npy) reproduces
                                 the manifest's accuracy on them within 0.5 points, and is
                                 >= 85% (plain stacks and fusion networks alike)
    demo_test.py capture NAME    `fusionlens-cli run --capture NAME.flcap` matches the
                                 built-in module (exit 0, "matches your PyTorch run")

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
    path = os.path.join(DEMO, e["files"]["capture"])
    r = cli("run", "--capture", path, timeout=600)
    print(r.stdout.strip())
    expect(r.returncode == 0, "run --capture %s: exit %d: %s%s" % (path, r.returncode, r.stdout, r.stderr))
    expect("built-in " + e["module"] in r.stdout, "%s: not run by the built-in %s" % (path, e["module"]))
    expect("matches your PyTorch run" in r.stdout, "%s: no match reported" % path)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("files", "accuracy", "capture"):
        print(__doc__)
        sys.exit(2)
    {"files": check_files, "accuracy": check_accuracy, "capture": check_capture}[sys.argv[1]](sys.argv[2])
    print("PASS")


if __name__ == "__main__":
    main()
