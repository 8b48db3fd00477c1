"""What the end-to-end Python tests share (tests/cli/cli_test.py, tests/cli/figure_test.py,
tests/cli/figure_script_test.py, tests/script/script_cli_test.py, tests/demo/demo_test.py): the
CLI runner, failing with a message, `render` expecting success or one refusal line, and a
safetensors reader that needs only numpy.

A test script imports it after putting tests/ on its path:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from cli_support import cli, expect, fail, read_safetensors

Environment: FL_CLI (the binary; default build/bin/fusionlens-cli of this checkout).
"""
import json
import os
import struct
import subprocess
import sys

import numpy as np

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.environ.get("FL_CLI", os.path.join(SRC, "build", "bin", "fusionlens-cli"))

# safetensors dtype -> numpy dtype (little-endian, as the format stores them)
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
          "I8": "i1", "U8": "u1", "BOOL": "?"}


def cli(*args, timeout=300):
    """Runs fusionlens-cli with `args`; the CompletedProcess, stdout and stderr as text."""
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


def render_ok(*args):
    """`fusionlens-cli render ARGS`, which must exit 0."""
    r = cli("render", *args)
    if r.returncode != 0:
        fail(f"render {args} exited {r.returncode}: {r.stderr.strip()}")
    return r


def render_error(*args, expect):
    """`fusionlens-cli render ARGS`, which must exit 2 with one stderr line matching `expect`."""
    import re
    r = cli("render", *args)
    if r.returncode != 2:
        fail(f"render {args}: expected exit 2, got {r.returncode} ({r.stdout} {r.stderr.strip()})")
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    if len(lines) != 1 or not re.search(expect, lines[0]):
        fail(f"render {args}: expected one line matching {expect!r}, got {r.stderr!r}")


def read_safetensors(path):
    """(name -> numpy array, metadata) of a .safetensors file."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        expect(info["dtype"] in DTYPES, "%s: tensor %s has dtype %s, which this reader does not know" % (
            path, name, info["dtype"]))
        b, e = info["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out, meta
