#!/usr/bin/python3
"""Runs one file of the hostile corpus (tests/data/bad/, made by tests/data/make_bad_corpus.py)
through fusionlens-cli: `run` (as --input, --weights or --script, per manifest.json) and
`inspect`.

  bad_corpus_test.py FILE        e.g. npy_absurd_shape.npy

Each refused file must give exit status 2 and exactly one stderr line that names the file and
says the problem (the manifest's substrings); nothing may crash or time out, no output file
may be written, and no hostile pickle may run code. Every command runs under an address-space
limit (RLIMIT_AS, FL_BAD_CORPUS_VMEM_MB, default 3072 MiB): a reader that allocated what a
lying header claims (16 GiB, 4 PB, ...) before checking it against the file would fail
with "out of memory" instead of the expected message.

Environment: FL_CLI (the binary), FL_SOURCE_DIR.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np

CLI = os.environ.get("FL_CLI", "build/bin/fusionlens-cli")
SRC = os.environ.get("FL_SOURCE_DIR", ".")
BAD = os.path.join(SRC, "tests", "data", "bad")
VMEM = int(os.environ.get("FL_BAD_CORPUS_VMEM_MB", "3072")) << 20
PWNED = "/tmp/fusionlens_pwned"


def limit():
    resource.setrlimit(resource.RLIMIT_AS, (VMEM, VMEM))


def cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60,
                          preexec_fn=limit, env=env)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_refused(what, p, name, expected, out=None):
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    print(f"{what}: exit {p.returncode}: {p.stderr.strip()[:1000]}")
    if p.returncode != 2:
        fail(f"{what}: exit status {p.returncode}, expected 2")
    if len(lines) != 1:
        fail(f"{what}: expected one stderr line, got {len(lines)}")
    if name not in lines[0]:
        fail(f"{what}: the message does not name the file {name}")
    for s in expected:
        if s not in lines[0]:
            fail(f"{what}: stderr lacks {s!r}")
    for bad in ["out of memory", "internal error", "c10::", "std::"]:
        if bad in lines[0]:
            fail(f"{what}: {bad!r} in the message (an unchecked allocation or exception)")
    if out and os.path.exists(out):
        fail(f"{what}: a refused run wrote its output")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    name = sys.argv[1]
    with open(os.path.join(BAD, "manifest.json")) as f:
        cases = {c["file"]: c for c in json.load(f)["files"]}
    if name not in cases:
        fail(f"{name} is not in manifest.json")
    case = cases[name]
    path = os.path.join(BAD, name)
    if os.path.exists(PWNED):
        os.remove(PWNED)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.safetensors")
        x = os.path.join(tmp, "x.npy")
        r = os.path.join(tmp, "r.npy")
        rng = np.random.default_rng(0)
        np.save(x, rng.standard_normal((1, 16, 5, 7)).astype(np.float32))
        np.save(r, rng.standard_normal((1, 16, 5, 7)).astype(np.float32))
        if case["use"] == "input":
            args = ["run", "--module", "eca", "--input", path, "--save", out]
        elif case["use"] == "script":
            args = ["run", "--script", path, "--input", x, "--save", out]
        else:
            args = ["run", "--module", "aff", "--input", x, "--input", r, "--weights", path,
                    "--save", out]
        p = cli(*args)
        if isinstance(case["run"], dict):
            print(f"run: exit {p.returncode}: {p.stderr.strip()[:1000]}")
            if p.returncode != 0:
                fail(f"run: exit {p.returncode}, expected success with a warning")
            if "warning" not in p.stderr or case["run"]["warn"] not in p.stderr:
                fail(f"run: no warning containing {case['run']['warn']!r}")
        else:
            check_refused("run", p, name, case["run"], out)

        p = cli("inspect", path)
        if case["inspect"] == "ok":
            print(f"inspect: exit {p.returncode}")
            if p.returncode != 0:
                fail(f"inspect: exit {p.returncode} ({p.stderr.strip()}), expected 0")
        else:
            check_refused("inspect", p, name, case["inspect"])
    if os.path.exists(PWNED):
        fail("a hostile pickle ran code")
    print("ok")


if __name__ == "__main__":
    main()
