#!/usr/bin/python3
"""Time the Python reference (tests/reference/fl_reference.py) the way
`fusionlens-cli bench` times FusionLens.

Run with Debian's interpreter, /usr/bin/python3 (torch 1.13, the same libtorch_cpu as the C++
build), never a python3 from PATH.

For each module: fl_reference.build(module_id, {}, [shape] * inputs) (default parameters, eval
mode), PyTorch's default init after torch.manual_seed(0), inputs torch.randn(shape), then under
torch.no_grad(): `warmup` untimed forwards and `iters` timed ones (time.perf_counter around the
module call, outputs and probes included: the reference always returns its probes, which are
views of tensors it computes anyway). Reports the median and the minimum in milliseconds.

usage:
  /usr/bin/python3 bench/reference_bench.py [--module ID|all] [--shape B,C,H,W] [--iters N]
                                            [--warmup N] [--threads N] [--json]

bench/compare.py runs this script once per module (`--json`), in a fresh process like
`fusionlens-cli bench`, so that both sides start with the same allocator state; it imports
time_reference() only to show the effect of a warm allocator.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests", "reference"))

import torch  # noqa: E402

import fl_reference as ref  # noqa: E402


def time_reference(module_id, shape, iters, warmup=3, threads=None):
    """Median and min forward time (ms) of the reference module at `shape` (all inputs)."""
    if threads:
        torch.set_num_threads(int(threads))
    shape = tuple(int(v) for v in shape)
    n_inputs = len(ref.INPUT_NAMES[module_id])
    torch.manual_seed(0)
    model = ref.build(module_id, {}, [shape] * n_inputs).eval()
    inputs = [torch.randn(shape) for _ in range(n_inputs)]
    return time_forward(model, inputs, module_id, shape, iters, warmup)


def time_forward(model, inputs, module_id, shape, iters, warmup):
    """Times model(*inputs) without autograd: `warmup` untimed calls, then `iters` timed ones.
    Shared by this bench and seed_bench.py so both sides of a ratio are timed the same way."""
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            model(*inputs)
        for _ in range(iters):
            t0 = time.perf_counter()
            model(*inputs)
            times.append((time.perf_counter() - t0) * 1e3)
    return {"module": module_id, "shape": list(shape), "iters": iters, "warmup": warmup,
            "threads": torch.get_num_threads(), "median_ms": statistics.median(times),
            "min_ms": min(times)}


def parse_shape(text):
    parts = [int(v) for v in text.split(",")]
    if len(parts) != 4 or min(parts) < 1:
        raise argparse.ArgumentTypeError("--shape %r is not B,C,H,W" % text)
    return parts


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", default="all", help="module id or 'all' (default)")
    ap.add_argument("--shape", type=parse_shape, default=[1, 64, 32, 32])
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    ids = ref.MODULE_IDS if args.module == "all" else [args.module]
    for mid in ids:
        if mid not in ref.MODULE_IDS:
            ap.error("unknown module %r (known: %s)" % (mid, ", ".join(ref.MODULE_IDS)))
    results = []
    for mid in ids:
        try:
            results.append(time_reference(mid, args.shape, args.iters, args.warmup, args.threads))
        except (ValueError, RuntimeError) as e:
            results.append({"module": mid, "shape": args.shape, "error": str(e).splitlines()[0]})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("%-18s %12s %10s %10s" % ("module", "shape", "median ms", "min ms"))
        for r in results:
            shape = "x".join(str(v) for v in r["shape"])
            if "error" in r:
                print("%-18s %12s  skipped: %s" % (r["module"], shape, r["error"]))
            else:
                print("%-18s %12s %10.3f %10.3f" % (r["module"], shape, r["median_ms"], r["min_ms"]))
        print("torch %s, threads: %d, iterations: %d after %d warm-up"
              % (torch.__version__, torch.get_num_threads(), args.iters, args.warmup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
