#!/usr/bin/python3
"""Write the reference parity cases for the C++ modules.

usage: /usr/bin/python3 tests/reference/make_cases.py OUTDIR [--modules id1,id2,...] [--list]

For every case: OUTDIR/<case>/weights.pt (plain ``torch.save(model.state_dict(), ...)``),
input.<name>.npy, output.npy or output.<i>.npy, probe.<name>.npy (all float32, C order), and
one OUTDIR/manifest.json describing them (paths relative to OUTDIR, params as strings with the
defaults filled in).  Deterministic: the same command writes the same files.
"""

import argparse
import json
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fl_reference as ref  # noqa: E402

# (module id, B, C, H, W, params overriding the defaults, name suffix), from each module's entry
# in fl_reference.MODULES.
CASES = [(mid,) + tuple(case) for mid in ref.MODULE_IDS for case in ref.MODULES[mid].cases]


def case_name(mid, B, C, H, W, suffix):
    name = "%s_b%d_%dx%dx%d" % (mid.replace("-", "_"), B, C, H, W)
    return name + ("_" + suffix if suffix else "")


def all_cases():
    out = []
    for mid, B, C, H, W, params, suffix in CASES:
        out.append(dict(name=case_name(mid, B, C, H, W, suffix), module=mid, B=B, C=C, H=H, W=W,
                        params=ref.full_params(mid, params)))
    names = [c["name"] for c in out]
    assert len(names) == len(set(names)), "duplicate case names"
    return out


MAX_ATTEMPTS = 64


def _lively(t):
    """True if t varies enough for a 1e-5 comparison to mean something."""
    t = t.detach().double()
    if t.numel() <= 1:
        return True
    return bool(t.std() > 1e-2 * (t.abs().max() + 1e-12)) and bool(torch.isfinite(t).all())


def _save_npy(path, t):
    np.save(path, np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32, copy=False)))


def write_case(outdir, case):
    name, mid = case["name"], case["module"]
    cdir = os.path.join(outdir, name)
    os.makedirs(cdir, exist_ok=True)
    shape = (case["B"], case["C"], case["H"], case["W"])
    in_names = ref.INPUT_NAMES[mid]
    base = zlib.crc32(name.encode("utf-8")) & 0x3FFFFFFF
    # Deterministic retry: a random draw whose outputs/probes are (near) constant, e.g. a
    # bottleneck whose ReLU units are all dead, would make a weak test; take the next seed.
    for attempt in range(MAX_ATTEMPTS):
        seed = base + 7919 * attempt
        torch.manual_seed(seed)
        model = ref.build(mid, case["params"], [shape] * len(in_names))
        ref.randomize_(model)
        model.eval()
        inputs = [torch.randn(shape, dtype=torch.float32) for _ in in_names]
        with torch.no_grad():
            outputs, probes = model(*inputs)
        dead = [n for n, t in list(enumerate(outputs)) + list(probes.items()) if not _lively(t)]
        if not dead:
            break
    else:
        raise RuntimeError("%s: no lively random draw in %d attempts (%s)" % (name, MAX_ATTEMPTS, dead))
    torch.save(model.state_dict(), os.path.join(cdir, "weights.pt"))

    entry = {"name": name, "module": mid, "seed": seed, "params": case["params"],
             "weights": name + "/weights.pt", "inputs": [], "outputs": [], "probes": {},
             "input_names": list(in_names)}
    for n, t in zip(in_names, inputs):
        rel = "%s/input.%s.npy" % (name, n)
        _save_npy(os.path.join(outdir, rel), t)
        entry["inputs"].append(rel)
    assert len(outputs) == ref.OUTPUT_COUNT[mid]
    for i, t in enumerate(outputs):
        rel = "%s/output.npy" % name if len(outputs) == 1 else "%s/output.%d.npy" % (name, i)
        _save_npy(os.path.join(outdir, rel), t)
        entry["outputs"].append(rel)
    assert list(probes) == ref.PROBE_NAMES[mid], (mid, list(probes))
    for pn, t in probes.items():
        rel = "%s/probe.%s.npy" % (name, pn)
        _save_npy(os.path.join(outdir, rel), t)
        entry["probes"][pn] = rel
    return entry


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("outdir", nargs="?")
    ap.add_argument("--modules", default="",
                    help="comma-separated module ids (default: all %d)" % len(ref.MODULE_IDS))
    ap.add_argument("--list", action="store_true", help="print the case names and exit")
    args = ap.parse_args(argv)

    wanted = [m for m in args.modules.replace(" ", "").split(",") if m] or list(ref.MODULE_IDS)
    bad = [m for m in wanted if m not in ref.MODULE_IDS]
    if bad:
        ap.error("unknown module id(s): %s (known: %s)" % (", ".join(bad), ", ".join(ref.MODULE_IDS)))
    cases = [c for c in all_cases() if c["module"] in wanted]
    if args.list:
        for c in cases:
            print(c["name"])
        return 0
    if not args.outdir:
        ap.error("OUTDIR is required")

    torch.set_num_threads(1)
    os.makedirs(args.outdir, exist_ok=True)
    entries = [write_case(args.outdir, c) for c in cases]
    with open(os.path.join(args.outdir, "manifest.json"), "w") as f:
        json.dump({"cases": entries}, f, indent=1, sort_keys=False)
        f.write("\n")
    print("wrote %d cases for %d module(s) to %s" % (len(entries), len(wanted), args.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
