#!/usr/bin/python3
"""Seeds for the fuzzers (tests/fuzz/): good samples written by numpy / torch, the hostile
corpus tests/data/bad/ sorted by reader, and the inputs past findings needed.

  make_seeds.py OUTDIR  ->  OUTDIR/{npy,safetensors,zip,pickle,checkpoint,tensor_file}/

Input layouts of the targets that need one (see their sources):
  checkpoint   b"\\x01" + a whole file, or b"\\x00" + n + n uint32 storage sizes + a pickle
               (the harness writes the archive around it)
  tensor_file  one byte choosing .npy / .npz / .safetensors / .pt (0..3) + the file
"""
import io
import json
import os
import shutil
import struct
import sys
import zipfile
from collections import OrderedDict

import numpy as np
import torch

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BAD = os.path.join(SRC, "tests", "data", "bad")
TARGETS = ["npy", "safetensors", "zip", "pickle", "checkpoint", "tensor_file", "image_header",
           "figure_spec"]
TENSOR_FILE_EXT = {".npy": 0, ".npz": 1, ".safetensors": 2, ".pt": 3}


def npy(array):
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def safetensors(header, data):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def wrapped(pkl, storage_sizes):
    """The checkpoint target's harness-wrapped layout."""
    return (b"\x00" + bytes([len(storage_sizes)]) +
            b"".join(struct.pack("<I", s) for s in storage_sizes) + pkl)


def split_torch_save(data):
    """(data.pkl, [byte size of storage '0', '1', ...]) of a torch.save archive."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        pkl = next(n for n in names if n.endswith("/data.pkl"))
        folder = pkl[: -len("data.pkl")]
        sizes = []
        while folder + f"data/{len(sizes)}" in names:
            sizes.append(z.getinfo(folder + f"data/{len(sizes)}").file_size)
        return z.read(pkl), sizes


def main():
    out = sys.argv[1]
    dirs = {k: os.path.join(out, k) for k in TARGETS}
    for d in dirs.values():
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)

    def put(kind, name, data):
        with open(os.path.join(dirs[kind], name), "wb") as f:
            f.write(data)
        if kind in ("npy", "safetensors", "zip"):  # the same file through the path readers
            ext = {"npy": ".npy", "safetensors": ".safetensors"}.get(kind) or os.path.splitext(name)[1]
            with open(os.path.join(dirs["tensor_file"], kind + "_" + name), "wb") as f:
                f.write(bytes([TENSOR_FILE_EXT[ext]]) + data)

    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for dt in ["<f4", ">f8", "<f2", "<i8", "|u1", "|b1", "<u2", ">u4", "<u8", "|i1", "<i2"]:
        put("npy", f"good_{dt[1:]}.npy", npy(a.astype(dt)))
    put("npy", "good_fortran.npy", npy(np.asfortranarray(a)))
    put("npy", "good_4d.npy", npy(np.ones((1, 2, 3, 4), dtype=np.float32)))
    # An empty array from memory: its null data pointer went to memcpy (found by fuzz_npy).
    put("npy", "regression_empty.npy", npy(np.zeros((0, 4), dtype=np.float32)))

    put("safetensors", "good.safetensors", safetensors(
        {"x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
         "y": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]},
         "__metadata__": {"k": "v"}}, bytes(22)))
    put("safetensors", "good_one.safetensors", safetensors(
        {"x": {"dtype": "F16", "shape": [1, 2, 2, 2], "data_offsets": [0, 16]}}, bytes(16)))
    put("safetensors", "regression_empty.safetensors", safetensors(
        {"e": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]}}, b""))

    for tag in ["stored", "deflated"]:
        buf = io.BytesIO()
        np.savez(buf, x=a) if tag == "stored" else np.savez_compressed(buf, x=a, y=a[0])
        put("zip", f"good_{tag}.npz", buf.getvalue())
    samples = {
        "state_dict": OrderedDict(w=torch.ones(2, 3), b=torch.zeros(3).half()),
        "nested": {"epoch": 3, "state_dict": {"module.w": torch.ones(2)}, "lr": [0.1, 0.01]},
        "tensor": torch.arange(6.0).reshape(2, 3)[:, 1:],
        "shared": (lambda t: {"a": t, "b": t[0]})(torch.ones(2, 2)),
        "expanded": {"e": torch.arange(3.0).expand(4, 3)},
        "dtypes": {"d": torch.ones(2, dtype=torch.float64), "i": torch.ones(2, dtype=torch.int64),
                   "bf": torch.ones(2, dtype=torch.bfloat16), "m": torch.ones(2, dtype=torch.bool)},
        "conv": {"state_dict": OrderedDict([("module.conv.weight", torch.ones(1, 1, 1, 1)),
                                            ("module.conv.bias", torch.zeros(1))]),
                 "optimizer": {"param_groups": [{"params": [0, 1], "lr": 0.1}]}},
    }
    for name, obj in samples.items():
        buf = io.BytesIO()
        torch.save(obj, buf)
        data = buf.getvalue()
        put("zip", f"good_{name}.pt", data)
        put("checkpoint", f"good_{name}.pt", b"\x01" + data)
        pkl, sizes = split_torch_save(data)
        put("pickle", f"good_{name}.pkl", pkl)
        put("checkpoint", f"good_{name}.wrapped", wrapped(pkl, sizes))

    # Pickles that copied one memoised value many times over (the unpickler's copy budget
    # and dict index; the bad corpus has the set() and nested-key cases).
    text = b"k" * 20000
    memo = b"X" + struct.pack("<I", len(text)) + text + b"q\x000"
    put("pickle", "regression_codecs_copies.pkl",
        b"\x80\x02" + memo + b"c_codecs\nencode\nq\x01X\x06\x00\x00\x00latin1q\x020]("
        + b"h\x01h\x00h\x02\x86R" * 2000 + b"e.")
    put("pickle", "regression_dict_keys.pkl",
        b"\x80\x02" + memo + b"](" + b"}h\x00Ns" * 4000 + b"e.")

    # Images: small good ones of every format (PIL), the corpus's broken ones below.
    from PIL import Image
    img = Image.fromarray(np.arange(8 * 6 * 3, dtype=np.uint8).reshape(6, 8, 3))
    for fmt, ext in [("PNG", "png"), ("JPEG", "jpg"), ("BMP", "bmp"), ("TIFF", "tif"), ("WEBP", "webp")]:
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        put("image_header", f"good.{ext}", buf.getvalue())
    # Figure specs: the documented examples and a few hand-written ones.
    examples = os.path.join(os.path.dirname(BAD), "..", "..", "docs", "examples")
    for f in sorted(os.listdir(examples)) if os.path.isdir(examples) else []:
        if f.endswith(".json"):
            with open(os.path.join(examples, f), "rb") as fh:
                put("figure_spec", f, fh.read())
    put("figure_spec", "minimal.json", json.dumps(
        {"schema_version": 1, "inputs": ["a.png"], "features": ["rgb"], "columns": [{"module": "eca"}],
         "rows": ["auto", {"tensor": "output", "view": "channel:3"}]}).encode())
    put("figure_spec", "layout.json", json.dumps(
        {"schema_version": 1, "inputs": ["a.png", "b.png"], "columns": [{"module": "aff", "seed": 3}],
         "rows": [{"tensor": "weight", "view": "query:1,2:head=0", "colormap": "viridis"}],
         "layout": {"width": "double", "dpi": 300}, "difference": [0, 1]}).encode())

    for f in sorted(os.listdir(BAD)):
        path = os.path.join(BAD, f)
        ext = os.path.splitext(f)[1]
        with open(path, "rb") as fh:
            data = fh.read()
        kind = {".npy": "npy", ".safetensors": "safetensors", ".npz": "zip", ".pt": "zip", ".png": "image_header",
                ".jpg": "image_header", ".bmp": "image_header", ".tif": "image_header"}.get(ext)
        if kind:
            put(kind, "bad_" + f, data)
        if ext == ".pt":
            put("checkpoint", "bad_" + f, b"\x01" + data)
            try:
                pkl, sizes = split_torch_save(data)
            except Exception:  # not a zip, or no data.pkl: the raw copy above covers it
                continue
            put("pickle", "bad_" + f + ".pkl", pkl)
            put("checkpoint", "bad_" + f + ".wrapped", wrapped(pkl, sizes))


if __name__ == "__main__":
    main()
