#!/usr/bin/python3
"""Time the seeds' own PyTorch code (/work/shared/seeds/*.txt, or $FL_SEEDS_DIR) the way
`fusionlens-cli bench` times FusionLens: the third column of bench/compare.py.

The seeds are web pages with code in them, not Python files. This script reads them at run
time, cuts out the seed classes and executes them; nothing of them is copied into the project.
What the extraction does, per seed:
  * HTML tags are removed and entities unescaped (001 is HTML markup);
  * a class runs from its `class NAME` line to the first line that is prose (non-ASCII text
    outside a comment, list bullets), an `if __name__` block or another top-level class;
  * indentation is repaired where the page lost it: 001 puts methods at column 0 (they are
    shifted into the class), 000 has no indentation at all (class 0, def 4, statements 8:
    its forward has no nested blocks);
  * the seeds' imports are replaced by one header (torch, nn, F, init, math) plus a stand-in for
    the single einops pattern 000 uses ('b (h w) c -> b c h w', a permute and reshape):
    python3-einops is not packaged in Debian 12;
  * `print` is a no-op inside seed code (002's gatedFusion prints shapes in its forward).
cmgm (003) cannot run: its forward is given as Chinese prose, not code. se and cbam have no seed.

usage: /usr/bin/python3 bench/seed_bench.py --module ID [--shape B,C,H,W] [--iters N]
                                            [--warmup N] [--threads N] [--json]
"""

import argparse
import html
import json
import os
import re
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_bench  # noqa: E402  (the shared timing loop)

SEEDS = os.environ.get("FL_SEEDS_DIR", "/work/shared/seeds")

HEADER = '''
import math
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn import init


def rearrange(t, pattern, h=None, w=None):  # the one einops pattern seed 000 uses
    assert pattern == 'b (h w) c -> b c h w', pattern
    b, n, c = t.shape
    return t.permute(0, 2, 1).reshape(b, c, h, w)
'''

# module id -> (seed file prefix, indentation style, [helper classes..., main class],
#               constructor(C, H, W), inputs(shape) -> list of tensors)
def nchw(n):
    return lambda s: [torch.randn(s) for _ in range(n)]


def channels_last(n):
    return lambda s: [torch.randn(s[0], s[2], s[3], s[1]) for _ in range(n)]


MODULES = {
    "ms-cam": ("001", "methods_at_0", ["MS_CAM"], lambda c, h, w: dict(channels=c, r=4), nchw(1)),
    "aff": ("001", "methods_at_0", ["AFF"], lambda c, h, w: dict(channels=c, r=4), nchw(2)),
    "iaff": ("001", "methods_at_0", ["iAFF"], lambda c, h, w: dict(channels=c, r=4), nchw(2)),
    "cafm": ("000", "flat", ["CAFM"], lambda c, h, w: dict(channels=c), nchw(2)),
    "gated-fusion": ("002", "indented", ["gatedFusion"], lambda c, h, w: dict(dim=c),
                     channels_last(2)),
    "msf": ("002", "indented", ["oneConv", "MSFblock"], lambda c, h, w: dict(in_channels=c),
            nchw(4)),
    "mfe": ("002", "indented", ["oneConv", "ASPPConv", "MFEblock"],
            lambda c, h, w: dict(in_channels=c, atrous_rates=[2, 4, 8]), nchw(1)),
    "safm": ("002", "indented", ["SAFM"], lambda c, h, w: dict(dim=c), nchw(1)),
    "osra": ("002", "indented", ["OSRAttention"], lambda c, h, w: dict(dim=c), nchw(1)),
    "cbam-joint": ("002", "indented", ["ChannelAttention", "SpatialAttention", "CBAMBlock"],
                   lambda c, h, w: dict(channel=c, reduction=8, kernel_size=7, HW=h * w), nchw(1)),
    "eca": ("004", "indented", ["ECAAttention"], lambda c, h, w: dict(kernel_size=7), nchw(1)),
    "spatial-attention": ("004", "indented", ["SpatialAttention"],
                          lambda c, h, w: dict(kernel_size=7), nchw(1)),
}
NOT_RUNNABLE = {
    "cmgm": "seed 003 gives CMGM's forward as prose, not code",
    "se": "no seed",
    "cbam": "no seed",
}


def seed_text(prefix):
    for name in sorted(os.listdir(SEEDS)):
        if name.startswith(prefix + "_"):
            with open(os.path.join(SEEDS, name), encoding="utf-8") as f:
                return html.unescape(re.sub(r"<[^>]+>", "", f.read()))
    raise FileNotFoundError("no seed %s_* in %s" % (prefix, SEEDS))


def is_prose(line):
    s = line.strip()
    code = re.sub(r"'[^']*'|\"[^\"]*\"", "''", s).split("#", 1)[0]  # strings may be Chinese
    return s.startswith("•") or any(ord(ch) > 127 for ch in code)


def class_source(text, name, before_line, style):
    """Source of the last `class name` that starts before line `before_line` (None: any)."""
    lines = text.splitlines()
    starts = [i for i, l in enumerate(lines) if re.match(r"class\s+%s\b" % re.escape(name), l)]
    if before_line is not None:
        starts = [i for i in starts if i <= before_line]
    if not starts:
        raise LookupError("class %s not found" % name)
    start = starts[-1]
    out, shift, in_string = [lines[start]], 0, False
    for line in lines[start + 1:]:
        s = line.strip()
        if s.count("'''") % 2 or s.count('"""') % 2:
            in_string = not in_string
        if not in_string and s and (is_prose(line) or s.startswith("if __name__")
                                    or re.match(r"(class|@)\S*", line)):
            break
        if style == "methods_at_0" and re.match(r"def\s", line):
            shift = 4
        if style == "flat" and s:
            line = (" " * 4 if s.startswith("def ") else " " * 8) + s
        else:
            line = " " * shift + line if s else ""
        out.append(line)
    return "\n".join(out), start


def load(module_id):
    prefix, style, classes, _, _ = MODULES[module_id]
    text = seed_text(prefix)
    namespace = {"print": lambda *a, **k: None, "__name__": "seed_" + module_id.replace("-", "_")}
    exec(HEADER, namespace)
    # the main class is the last one listed; helpers are the last of their name before it
    main_src, main_line = class_source(text, classes[-1], None, style)
    for helper in classes[:-1]:
        exec(class_source(text, helper, main_line, style)[0], namespace)
    exec(main_src, namespace)
    return namespace[classes[-1]]


def time_seed(module_id, shape, iters, warmup=3, threads=None):
    if module_id in NOT_RUNNABLE:
        return {"module": module_id, "shape": list(shape), "error": NOT_RUNNABLE[module_id]}
    if threads:
        torch.set_num_threads(int(threads))
    _, _, _, ctor, make_inputs = MODULES[module_id]
    b, c, h, w = shape
    torch.manual_seed(0)
    model = load(module_id)(**ctor(c, h, w)).eval()
    inputs = make_inputs(shape)
    return reference_bench.time_forward(model, inputs, module_id, shape, iters, warmup)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", required=True)
    ap.add_argument("--shape", default="1,64,32,32")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    shape = [int(v) for v in args.shape.split(",")]
    ids = list(MODULES) + list(NOT_RUNNABLE) if args.module == "all" else [args.module]
    results = []
    for mid in ids:
        try:
            results.append(time_seed(mid, shape, args.iters, args.warmup, args.threads))
        except Exception as e:  # a seed that does not run is reported, not fatal
            results.append({"module": mid, "shape": shape,
                            "error": "%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else "")})
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            print(r["module"], r.get("median_ms", r.get("error")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
