#!/usr/bin/python3
"""Seeds for the fuzzers: good samples written by numpy / torch, plus the hostile corpus
tests/data/bad/ sorted by reader.  make_seeds.py OUTDIR -> OUTDIR/{npy,safetensors,zip,pickle}/"""
import io
import os
import shutil
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BAD = os.path.join(SRC, "tests", "data", "bad")


def main():
    out = sys.argv[1]
    dirs = {k: os.path.join(out, k) for k in ["npy", "safetensors", "zip", "pickle"]}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)

    def put(kind, name, data):
        with open(os.path.join(dirs[kind], name), "wb") as f:
            f.write(data)

    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for dt in ["<f4", ">f8", "<f2", "<i8", "|u1", "|b1", "<u2"]:
        buf = io.BytesIO()
        np.save(buf, a.astype(dt))
        put("npy", f"good_{dt[1:]}.npy", buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(a))
    put("npy", "good_fortran.npy", buf.getvalue())

    import json, struct
    header = {"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
              "y": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
              "__metadata__": {"k": "v"}}
    h = json.dumps(header).encode()
    put("safetensors", "good.safetensors", struct.pack("<Q", len(h)) + h + bytes(22))

    for method, tag in [(zipfile.ZIP_STORED, "stored"), (zipfile.ZIP_DEFLATED, "deflated")]:
        buf = io.BytesIO()
        np.savez(buf, x=a) if tag == "stored" else np.savez_compressed(buf, x=a, y=a[0])
        put("zip", f"good_{tag}.npz", buf.getvalue())
    samples = {
        "state_dict": OrderedDict(w=torch.ones(2, 3), b=torch.zeros(3).half()),
        "nested": {"epoch": 3, "state_dict": {"module.w": torch.ones(2)}, "lr": [0.1, 0.01]},
        "tensor": torch.arange(6.0).reshape(2, 3)[:, 1:],
        "shared": (lambda t: {"a": t, "b": t[0]})(torch.ones(2, 2)),
    }
    for name, obj in samples.items():
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = buf.getvalue()
        put("zip", f"good_{name}.pt", data)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
            put("pickle", f"good_{name}.pkl", z.read(pkl))

    for f in sorted(os.listdir(BAD)):
        path = os.path.join(BAD, f)
        ext = os.path.splitext(f)[1]
        kind = {".npy": "npy", ".safetensors": "safetensors", ".npz": "zip", ".pt": "zip"}.get(ext)
        if kind:
            shutil.copy(path, os.path.join(dirs[kind], "bad_" + f))
        if ext == ".pt":
            try:
                with zipfile.ZipFile(path) as z:
                    for n in z.namelist():
                        if n.endswith("data.pkl"):
                            put("pickle", "bad_" + f + ".pkl", z.read(n))
            except Exception:
                pass


if __name__ == "__main__":
    main()
