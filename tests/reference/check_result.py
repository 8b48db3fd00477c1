#!/usr/bin/python3
"""Compare a fusionlens-cli result (.safetensors) with a reference case.

usage: check_result.py --manifest OUTDIR/manifest.json --case NAME --result RESULT.safetensors
                       [--atol 1e-5] [--rtol 1e-5]

The result must hold every ``output`` / ``output.N`` and ``probe.NAME`` of the case, each with
the reference's shape and |result - ref| <= atol + rtol * |ref| everywhere (no NaN/Inf).
Extra tensors in the result are reported but allowed.  Prints one line per tensor.
Exit 0 if all match, 1 if anything is missing, mis-shaped, wrong or the file is malformed,
2 on bad usage (bad arguments, unreadable manifest, unknown case, missing result file).

The .safetensors file is parsed by hand with numpy: 8-byte little-endian header length N,
N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
then the raw little-endian data, offsets relative to the end of the header.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U64": np.dtype("<u8"), "U32": np.dtype("<u4"), "U16": np.dtype("<u2"), "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


class SafetensorsError(Exception):
    pass


def read_safetensors(path):
    """Return (tensors: dict name -> float64/ndarray, dtypes: dict name -> str, metadata)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise SafetensorsError("file shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", blob[:8])
    if n == 0 or 8 + n > len(blob):
        raise SafetensorsError("header length %d does not fit the file (%d bytes)" % (n, len(blob)))
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise SafetensorsError("header is not valid JSON: %s" % e)
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    data = memoryview(blob)[8 + n:]
    meta = header.pop("__metadata__", None)
    tensors, dtypes = {}, {}
    for name, info in header.items():
        try:
            dt_name, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError("%s: entry needs dtype, shape, data_offsets" % name)
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise SafetensorsError("%s: bad shape %r" % (name, shape))
        if dt_name == "BF16":
            itemsize = 2
        elif dt_name in _DTYPES:
            itemsize = _DTYPES[dt_name].itemsize
        else:
            raise SafetensorsError("%s: unsupported dtype %r" % (name, dt_name))
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin <= end <= len(data)):
            raise SafetensorsError("%s: data_offsets %r outside the %d data bytes"
                                   % (name, [begin, end], len(data)))
        if end - begin != count * itemsize:
            raise SafetensorsError("%s: %d bytes for shape %r of %s (expected %d)"
                                   % (name, end - begin, shape, dt_name, count * itemsize))
        raw = bytes(data[begin:end])
        if dt_name == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=_DTYPES[dt_name])
        tensors[name] = arr.reshape(shape)
        dtypes[name] = dt_name
    return tensors, dtypes, meta


def expected_tensors(case, root):
    """[(safetensors name, npy path)] for the outputs and probes of a manifest case."""
    out = []
    outputs = case.get("outputs", [])
    for i, rel in enumerate(outputs):
        base = os.path.basename(rel)
        if base == "output.npy":
            name = "output"
        elif base.startswith("output.") and base.endswith(".npy"):
            name = base[:-4]
        else:
            name = "output" if len(outputs) == 1 else "output.%d" % i
        out.append((name, os.path.join(root, rel)))
    for pname, rel in case.get("probes", {}).items():
        out.append(("probe." + pname, os.path.join(root, rel)))
    return out


def compare(name, got, ref, atol, rtol):
    """(ok, message)."""
    if tuple(got.shape) != tuple(ref.shape):
        return False, "shape %s, expected %s" % (list(got.shape), list(ref.shape))
    g = got.astype(np.float64)
    r = ref.astype(np.float64)
    if g.size == 0:
        return True, "empty, shape %s" % list(ref.shape)
    if not np.all(np.isfinite(g)):
        return False, "%d non-finite value(s)" % int(np.sum(~np.isfinite(g)))
    err = np.abs(g - r)
    bound = atol + rtol * np.abs(r)
    bad = err > bound
    max_abs = float(err.max())
    i = int(np.argmax(err))
    msg = "max abs err %.3e (at %s: got %.7g, ref %.7g)" % (
        max_abs, list(np.unravel_index(i, r.shape)), g.flat[i], r.flat[i])
    if np.any(bad):
        j = int(np.argmax(np.where(bad, err - bound, -np.inf)))
        return False, "%s; %d of %d element(s) out of tolerance, e.g. at %s got %.7g ref %.7g" % (
            msg, int(bad.sum()), bad.size, list(np.unravel_index(j, r.shape)), g.flat[j], r.flat[j])
    return True, msg


def main(argv=None):
    ap = argparse.ArgumentParser(description="Compare a .safetensors result with a reference case.")
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--rtol", type=float, default=1e-5)
    args = ap.parse_args(argv)  # exits 2 on bad usage

    if not (args.atol >= 0 and args.rtol >= 0):
        print("error: --atol and --rtol must be >= 0", file=sys.stderr)
        return 2
    try:
        with open(args.manifest) as f:
            manifest = json.load(f)
        cases = {c["name"]: c for c in manifest["cases"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        print("error: cannot read manifest %s: %s" % (args.manifest, e), file=sys.stderr)
        return 2
    if args.case not in cases:
        print("error: case %r not in %s" % (args.case, args.manifest), file=sys.stderr)
        return 2
    if not os.path.isfile(args.result):
        print("error: result file %s does not exist" % args.result, file=sys.stderr)
        return 2
    case = cases[args.case]
    root = os.path.dirname(os.path.abspath(args.manifest))
    wanted = expected_tensors(case, root)
    if not wanted:
        print("error: case %r lists no outputs or probes" % args.case, file=sys.stderr)
        return 2
    refs = {}
    for name, path in wanted:
        try:
            refs[name] = np.load(path)
        except (OSError, ValueError) as e:
            print("error: cannot read reference %s: %s" % (path, e), file=sys.stderr)
            return 2

    try:
        got, dtypes, _ = read_safetensors(args.result)
    except (OSError, SafetensorsError) as e:
        print("FAIL %s: malformed safetensors file: %s" % (args.result, e))
        return 1

    ok_all = True
    for name, _ in wanted:
        if name not in got:
            print("FAIL %-24s missing from result" % name)
            ok_all = False
            continue
        ok, msg = compare(name, got[name], refs[name], args.atol, args.rtol)
        if dtypes[name] != "F32":
            msg += " [dtype %s, expected F32]" % dtypes[name]
        print("%s %-24s %s" % ("ok  " if ok else "FAIL", name, msg))
        ok_all = ok_all and ok
    extra = sorted(set(got) - {n for n, _ in wanted})
    for name in extra:
        print("note %-24s extra tensor in result (not checked)" % name)
    print("%s: case %s, %d tensor(s), atol %g rtol %g" % (
        "PASS" if ok_all else "FAIL", args.case, len(wanted), args.atol, args.rtol))
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
