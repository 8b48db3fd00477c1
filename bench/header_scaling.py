#!/usr/bin/python3
"""How header handling scales with the number of entries (linear-time headers).

  /usr/bin/python3 bench/header_scaling.py [--counts 10000,100000,200000] [--formats ...] [--markdown]

For each format (safetensors header, npz zip central directory, torch.save pickle memo) and
each entry count N, writes a file of N one-element tensors, times `fusionlens-cli inspect FILE`
(best of 3) minus the time for a one-entry file (LibTorch's start-up), and prints the time per
entry. Linear handling keeps the last column flat as N grows; a quadratic step makes it grow
with N (safetensors at 100,000 entries took 16 s before its header was parsed into a map).

The `prefix` format times the weights-prefix search of `inspect FILE --module aff`: N tensors
whose names carry 100 dots each before one of aff's keys (the search once copied the rest of
a name at every dot: quadratic in the name's length).

Also prints user and system CPU seconds of the inspect (from wait4), which a loaded machine
inflates less than wall time. --markdown prints the table as bench/results.md's "Header
scaling" section. Timings are only meaningful on a quiet machine. Environment: FL_CLI.
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


def write_prefix(path, n):
    deep = "m." * 100
    header = {f"{i}.{deep}local_att.0.bias": {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
              for i in range(n)}
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + bytes(4 * n))


# name -> (extension, writer, extra inspect arguments)
FORMATS = {"safetensors": (".safetensors", write_safetensors, []), "npz": (".npz", write_npz, []),
           "pt": (".pt", write_pt, []),
           "prefix": (".safetensors", write_prefix, ["--module", "aff", "--shape", "1,16,2,2"])}


def timed(path, extra):
    """(best wall seconds, best user+system CPU seconds) of 3 runs of `inspect path`."""
    best, best_cpu = None, None
    for _ in range(3):
        start = time.perf_counter()
        p = subprocess.Popen([CLI, "inspect", path, *extra], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(p.pid, 0)
        took = time.perf_counter() - start
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"header_scaling: inspect {path} failed: {err.strip()}")
        cpu = usage.ru_utime + usage.ru_stime
        best = took if best is None else min(best, took)
        best_cpu = cpu if best_cpu is None else min(best_cpu, cpu)
    return best, best_cpu


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--counts", default="10000,100000,200000")
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--markdown", action="store_true", help="print a table for bench/results.md")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    load_start = os.getloadavg()
    rows = []
    print(f"load average: {load_start[0]:.2f} on {os.cpu_count()} cores; {CLI}", flush=True)
    print(f"{'format':12} {'entries':>8} {'inspect s':>10} {'per entry us':>13} {'cpu s':>7} {'cpu/entry us':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.formats.split(","):
            ext, write, extra = FORMATS[name]
            base = os.path.join(tmp, "one" + ext)
            write(base, 1)
            t0, c0 = timed(base, extra)
            for n in counts:
                path = os.path.join(tmp, f"n{n}{ext}")
                write(path, n)
                t, c = timed(path, extra)
                row = (name, n, t, 1e6 * max(t - t0, 0.0) / n, c, 1e6 * max(c - c0, 0.0) / n, os.getloadavg()[0])
                rows.append(row)
                print(f"{name:12} {n:8d} {t:10.3f} {row[3]:13.2f} {c:7.3f} {row[5]:13.2f}", flush=True)
                os.remove(path)
    if args.markdown:
        print()
        print("| format | entries | inspect wall s | wall per entry µs | inspect CPU s | CPU per entry µs | load (1 min) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, n, t, pe, c, ce, load in rows:
            print(f"| {name} | {n:,} | {t:.3f} | {pe:.1f} | {c:.3f} | {ce:.1f} | {load:.2f} |")
        end = os.getloadavg()
        print(f"\nLoad average (1, 5, 15 min): start {load_start[0]:.2f}, {load_start[1]:.2f}, {load_start[2]:.2f}; "
              f"end {end[0]:.2f}, {end[1]:.2f}, {end[2]:.2f}, on {os.cpu_count()} cores.")


if __name__ == "__main__":
    main()
