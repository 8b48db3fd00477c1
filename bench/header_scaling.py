#!/usr/bin/python3
"""How header handling scales with the number of entries (linear-time headers).

  /usr/bin/python3 bench/header_scaling.py [--counts 10000,100000,200000] [--formats ...]

For each format (safetensors header, npz zip central directory, torch.save pickle memo) and
each entry count N, writes a file of N one-element tensors, times `fusionlens-cli inspect FILE`
(best of 3) minus the time for a one-entry file (LibTorch's start-up), and prints the time per
entry. Linear handling keeps the last column flat as N grows; a quadratic step makes it grow
with N (safetensors at 100,000 entries took 16 s before its header was parsed into a map).

Timings are only meaningful on a quiet machine. Environment: FL_CLI (the binary).
"""
import argparse
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zipfile

import numpy as np

CLI = os.environ.get("FL_CLI", "build/bin/fusionlens-cli")


def write_safetensors(path, n):
    header = {f"t{i}": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]} for i in range(n)}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(4 * n))


def write_npz(path, n):
    one = io.BytesIO()
    np.save(one, np.zeros(1, dtype=np.float32))
    data = one.getvalue()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i in range(n):
            z.writestr(zipfile.ZipInfo(f"t{i}.npy", date_time=(2020, 1, 1, 0, 0, 0)), data)


def write_pt(path, n):
    import torch
    torch.save({f"t{i}": torch.zeros(1) for i in range(n)}, path)


FORMATS = {"safetensors": (".safetensors", write_safetensors), "npz": (".npz", write_npz),
           "pt": (".pt", write_pt)}


def timed(path):
    best = None
    for _ in range(3):
        start = time.perf_counter()
        p = subprocess.run([CLI, "inspect", path], capture_output=True, text=True)
        took = time.perf_counter() - start
        if p.returncode != 0:
            sys.exit(f"header_scaling: inspect {path} failed: {p.stderr.strip()}")
        best = took if best is None else min(best, took)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10000,100000,200000")
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    print(f"load average: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {CLI}")
    print(f"{'format':12} {'entries':>8} {'inspect s':>10} {'per entry us':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.formats.split(","):
            ext, write = FORMATS[name]
            base = os.path.join(tmp, "one" + ext)
            write(base, 1)
            t0 = timed(base)
            for n in counts:
                path = os.path.join(tmp, f"n{n}{ext}")
                write(path, n)
                t = timed(path)
                print(f"{name:12} {n:8d} {t:10.3f} {1e6 * max(t - t0, 0.0) / n:13.2f}", flush=True)
                os.remove(path)


if __name__ == "__main__":
    main()
