#!/usr/bin/python3
"""Benchmark every FusionLens module against the Python reference and write bench/results.md.

Called by bench/run_bench.sh (`make bench`); run with Debian's /usr/bin/python3 (torch 1.13).

For each thread count and shape group, module by module:
  * FusionLens: `$FL_CLI bench --module ID --shape B,C,H,W --iters N --threads T --json`
    (default parameters, seeded init, eval, no autograd, probe recording off, 3 warm-up runs);
  * reference:  `/usr/bin/python3 bench/reference_bench.py --module ID ... --json`
    (fl_reference.build(...) in eval under torch.no_grad(), default parameters,
    torch.set_num_threads(T), 3 warm-up runs).
Both sides run in a fresh process per module: glibc's allocator adapts its mmap threshold to
what a process has freed before, so a long-lived process that already freed large buffers
serves a module's big outputs from its heap while a fresh one maps (and page-faults) them on
every call; timing the reference inside this script would give it that advantage (the report
measures the effect). The two runs of a module are adjacent in time and their order
alternates from module to module, so slow drifts of the machine's load hit both sides alike.

usage: /usr/bin/python3 bench/compare.py [--cli PATH] [--threads 1[,2]] [--quick]
                                         [--out bench/results.md] [--json bench/results.json]
"""

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, os.pardir))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import bounds  # noqa: E402
import reference_bench  # noqa: E402
from reference_bench import ref  # noqa: E402

SMALL = [1, 64, 32, 32]
LARGE = [1, 64, 128, 128]
ATTN_LARGE = [1, 64, 56, 56]  # osra and cmgm: (HW)^2 attention, 128x128 would need GiBs
ATTENTION_MODULES = ("osra", "cmgm")

# Iterations per (group, module); everything else takes the group's default. Chosen so that a
# whole run stays near 3 minutes on the 2-core development machine at low load (cmgm at 56x56
# is ~4 s per forward there: 8 x 3136 x 3136 attention, an 8->8 3x3 conv over it, netlib BLAS).
ITERS = {
    "small": {"default": 50, "osra": 20, "cmgm": 8},
    "large": {"default": 20, "mfe": 10, "osra": 10, "cmgm": 5},
}
QUICK_ITERS = {
    "small": {"default": 5, "osra": 3, "cmgm": 2},
    "large": {"default": 3, "osra": 2, "cmgm": 1},
}
NOISE_LOW = 0.9  # ratios within [0.9, 1.1] are treated as equal in the report (see "Noise")
WARMUP = 3  # fusionlens-cli bench's fixed warm-up (core/run/bench.h); the reference matches it


def groups():
    """(group name, [(module, shape)]) in run order."""
    small = [(m, SMALL) for m in ref.MODULE_IDS]
    large = [(m, ATTN_LARGE if m in ATTENTION_MODULES else LARGE) for m in ref.MODULE_IDS]
    return [("small", small), ("large", large)]


def shape_text(shape):
    return "x".join(str(v) for v in shape)


def run_fl(cli, module, shape, iters, threads, env=None, outputs=None):
    cmd = [cli, "bench", "--module", module, "--shape", ",".join(str(v) for v in shape),
           "--iters", str(iters), "--threads", str(threads), "--json"]
    if outputs:
        cmd += ["--outputs", outputs]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": "exit %d: %s" % (proc.returncode, proc.stderr.strip().splitlines()[-1:])}
    try:
        rows = json.loads(proc.stdout)
    except ValueError as e:
        return {"error": "unreadable JSON from %s: %s" % (cli, e)}
    if len(rows) != 1:
        return {"error": "expected one result, got %d" % len(rows)}
    return rows[0]


PYTHON = "/usr/bin/python3"  # Debian's interpreter with python3-torch; never the one on PATH


def _run_timer(script, module, shape, iters, threads, env=None):
    """One timing script of bench/ (--json, one row) in a fresh process; a row with "error"
    when it fails, so one module's failure does not end the table."""
    cmd = [PYTHON, os.path.join(HERE, script), "--module", module,
           "--shape", ",".join(str(v) for v in shape), "--iters", str(iters),
           "--warmup", str(WARMUP), "--threads", str(threads), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return {"error": "%s exit %d: %s"
                % (script, proc.returncode, proc.stderr.strip().splitlines()[-1:])}
    try:
        rows = json.loads(proc.stdout)
    except ValueError as e:
        return {"error": "unreadable JSON from %s: %s" % (script, e)}
    return rows[0] if len(rows) == 1 else {"error": "expected one result, got %d" % len(rows)}


def run_ref(module, shape, iters, threads, env=None):
    """The reference in a fresh process, as fusionlens-cli bench (see the module docstring)."""
    return _run_timer("reference_bench.py", module, shape, iters, threads, env)


def run_seed(module, shape, iters, threads):
    """The seed's own class (bench/seed_bench.py reads it from the seed page at run time) in a
    fresh process, timed as the reference is."""
    return _run_timer("seed_bench.py", module, shape, iters, threads)


# Outputs-only variants timed next to the default (all outputs): cmgm without cam (output.1),
# which alone needs the (HW)^2 matrix once the probe is off (O(HW) memory).
OUTPUTS_ONLY = {"cmgm": "output.0"}


def analytic_bound(module, shape, rates, cam=True):
    """The module's FLOPs and bytes (bench/bounds.py, from the maths in modules.md) and its
    bound in ms at this run's measured rates (`rates`: bounds.measure_rates)."""
    try:
        w = bounds.work(module, shape, cam=cam)
    except KeyError:
        return {}
    ms, by = bounds.bound_ms(w, rates["gemm_gflops"], rates["bandwidth_gbs"])
    return {"flops": w["flops"], "bytes": w["bytes"], "bound_ms": ms, "bound_by": by}


# Sections other scripts write into results.md (bench/header_scaling.py, bench/interaction.py):
# kept, as they are, when this script rewrites the file.
KEPT_SECTIONS = ("## Header scaling", "## Interaction")


def kept_sections(path):
    """The KEPT_SECTIONS of the results file at `path` (each up to the next "## " heading)."""
    try:
        with open(path) as f:
            lines = f.read().split("\n")
    except OSError:
        return []
    out = []
    for title in KEPT_SECTIONS:
        start = next((i for i, l in enumerate(lines) if l.strip() == title), None)
        if start is None:
            continue
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        out.append("\n".join(lines[start:end]).rstrip("\n"))
    return out


# glibc tunables that make a fresh process behave like a long-lived one whose allocator has
# adapted (see the "Allocator" section of the report).
WARM_MALLOC = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"


def allocator_effect(cli, module, shape, iters, threads):
    """Median ms of both sides for one module, fresh process with glibc's default malloc
    settings vs with WARM_MALLOC."""
    warm_env = dict(os.environ, GLIBC_TUNABLES=WARM_MALLOC)
    out = {"module": module, "shape": shape, "iters": iters}
    out["fl_default"] = run_fl(cli, module, shape, iters, threads).get("median_ms")
    out["ref_default"] = run_ref(module, shape, iters, threads).get("median_ms")
    out["fl_warm"] = run_fl(cli, module, shape, iters, threads, warm_env).get("median_ms")
    out["ref_warm"] = run_ref(module, shape, iters, threads, warm_env).get("median_ms")
    return out


# Where FusionLens's C++ code does different work from the reference (read from
# core/modules/*.cpp and tests/reference/fl_reference.py); printed with the report so that a
# ratio can be matched to a cause. The kernel pairs named last are timed in this process.
CODE_DIFFERENCES = [
    ("gated-fusion",
     "FusionLens computes the gate on NCHW as one `addmm` (W x + b) per batch element and the "
     "output as `x2 + z (x1 - x2)`; the reference (the seed) permutes to channels-last, applies "
     "`nn.Linear` (which copies the permuted input), mixes with four full-size ops and copies "
     "output and gate back to NCHW",
     "linear"),
    ("cbam-joint, cafm",
     "1x1 convolutions applied to pooled `[B,C,1,1]` vectors (cbam-joint's `se` and its joint "
     "`MLP` over C+H*W channels, cafm's four channel MLPs) run as matrix products (`linear`) "
     "on `[B,C]` rows; the reference calls `nn.Conv2d`",
     "conv1x1"),
    ("eca, cbam, cbam-joint",
     "cbam and cbam-joint send the max- and mean-pooled descriptors through their shared MLP "
     "as one stacked batch (one call instead of two); eca's conv is linear, so it convolves "
     "their sum once and adds the bias a second time (`conv(m) + conv(a) = conv(m + a) + b`); "
     "cafm's two spatial maps share one pass of its shared spatial convs",
     None),
    ("aff, iaff, cafm, msf, mfe, cbam",
     "fewer full-size passes: `x w + r (1 - w)` as `r + w (x - r)`, `f s + f` as `f (1 + s)`, "
     "in-place accumulation (`addcmul_`, `add_`, `mul_`) where the reference allocates",
     None),
    ("all",
     "the reference returns its probes (references to tensors it computes anyway, plus "
     "gated-fusion's contiguous gate copy); `fusionlens-cli bench` records none. Both use "
     "values-only max reductions (`amax`)",
     None),
]


# Modules whose C++ forward runs the same kernels as the reference (no entry above applies
# beyond the shared `amax`): a ratio below 1 there can only be measurement noise.
SAME_WORK = ("ms-cam", "spatial-attention", "se", "safm", "osra", "cmgm")


def kernel_pairs(threads):
    """Minimum ms of the differing kernels, FusionLens's choice vs the reference's."""
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    out = []
    for shape in (SMALL, LARGE):
        B, C, H, W = shape
        x1, x2 = torch.randn(shape), torch.randn(shape)
        w, b = torch.randn(C, C) / C ** 0.5, torch.randn(C)
        joint = torch.randn(B, C + H * W)
        w_mlp = torch.randn(C // 8, C + H * W, 1, 1)

        def fl_linear():
            return torch.addmm(b[:, None], w, x1[0].reshape(C, H * W))

        def ref_linear():
            return F.linear(x1.permute(0, 2, 3, 1), w, b)
        pairs = {
            "linear": ("addmm(b, W, x[0] as [C,N])", fl_linear,
                       "linear(x.permute(0,2,3,1), W, b)", ref_linear),
            "conv1x1": ("linear(v [B,C+HW], W as [C/r,C+HW])",
                        lambda: F.linear(joint, w_mlp.view(C // 8, -1)),
                        "conv2d(v [B,C+HW,1,1], W)",
                        lambda: F.conv2d(joint[:, :, None, None], w_mlp)),
        }
        for key, (fl_name, fl_fn, ref_name, ref_fn) in pairs.items():
            times = []
            for fn in (fl_fn, ref_fn):
                with torch.no_grad():
                    for _ in range(3):
                        fn()
                    best = float("inf")
                    for _ in range(30):
                        t0 = time.perf_counter()
                        fn()
                        best = min(best, (time.perf_counter() - t0) * 1e3)
                times.append(best)
            out.append((key, shape, fl_name, times[0], ref_name, times[1]))
    return out


# ---- machine and build facts ----------------------------------------------------------------

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, shell=True,
                              cwd=REPO).stdout.strip()
    except OSError:
        return ""


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
    except OSError:
        pass
    return "unknown"


def loadavg():
    return "%.2f, %.2f, %.2f" % os.getloadavg()


def blas_info():
    cfg = torch.__config__.show()
    info = next((l.strip() for l in cfg.splitlines() if "BLAS_INFO" in l), "")
    blas = ""
    for part in info.replace(",", " ").split():
        if part.startswith("BLAS_INFO="):
            blas = part.split("=", 1)[1]
    lib = sh("readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3")
    return "BLAS_INFO=%s, libblas.so.3 -> %s" % (blas or "?", lib or "?")


def fl_blas(cli):
    """What fusionlens-cli detects in its own process (`--version`, core/common/blas_info.h)."""
    out = subprocess.run([cli, "--version"], capture_output=True, text=True).stdout
    return next((l.strip() for l in out.splitlines() if "BLAS: " in l), "?")


def file_facts(path):
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    mtime = datetime.datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M:%S")
    return "built %s, sha256 %s" % (mtime, h.hexdigest()[:12])


def git_state():
    head = sh("git rev-parse --short HEAD") or "?"
    subject = sh("git log -1 --format=%s")
    dirty = sh("git status --porcelain --untracked-files=no")
    attn = sh("git status --porcelain -- core/modules/osra.h core/modules/osra.cpp "
              "core/modules/cmgm.h core/modules/cmgm.cpp core/modules/attention_rows.h "
              "core/modules/attention_rows.cpp")
    return head, subject, dirty, attn


def newest_source_mtime(paths):
    newest = 0.0
    for p in paths:
        try:
            newest = max(newest, os.stat(os.path.join(REPO, p)).st_mtime)
        except OSError:
            pass
    return newest


# ---- report ---------------------------------------------------------------------------------

def ratio(ref_ms, fl_ms):
    if ref_ms is None or fl_ms is None or fl_ms <= 0:
        return None
    return ref_ms / fl_ms


def fmt_ms(v):
    if v is None:
        return "n/a"
    return "%.3f" % v if v < 100 else "%.1f" % v


def fmt_ratio(r):
    return "n/a" if r is None else "%.2f" % r


def geomean(values):
    values = [v for v in values if v]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def se_note(rows):
    r = next((r for r in rows if r["module"] == "se" and r["group"] == "small"
              and r["fl_median"] and r["ref_median"]), None)
    if not r:
        return "not measured"
    return "reference %.0f us vs FusionLens %.0f us at %s, for about 7 ops" % (
        r["ref_median"] * 1e3, r["fl_median"] * 1e3, shape_text(r["shape"]))


def write_report(path, rows, facts):
    out = []
    w = out.append
    w("# FusionLens vs the Python reference: forward-pass timings")
    w("")
    w("Written by bench/run_bench.sh (`make bench`; it runs bench/compare.py) on %s. Do not "
      "edit by hand: rerun it." % facts["date"])
    w("")
    w("**What is timed.** One forward pass of each module with its default parameters, batch 1, "
      "64 channels, CPU, float32, eval mode, no autograd. FusionLens: `fusionlens-cli bench "
      "--module ID --shape B,C,H,W --iters N --threads T --json` (seeded init; probe recording "
      "is off in `bench`). Reference: `tests/reference/fl_reference.py`'s `build(...)` under "
      "`torch.no_grad()` with `torch.set_num_threads(T)` (`bench/reference_bench.py --json`; it "
      "returns its probes, which are references to tensors it computes anyway). Both sides: a "
      "fresh process per module (see \"Allocator\" below), %d untimed warm-up runs, then N "
      "timed ones; median and minimum in milliseconds. The two runs of a module are adjacent "
      "in time and alternate in order. **ratio = reference / FusionLens: > 1 means FusionLens "
      "is faster.**" % WARMUP)
    w("")
    w("## Machine and build")
    w("")
    w("| | |")
    w("|---|---|")
    w("| CPU | %s (`nproc` = %s, %s RAM) |" % (facts["cpu"], facts["nproc"], facts["mem"]))
    w("| threads | %s (FusionLens `--threads`, reference `torch.set_num_threads`) |"
      % facts["threads"])
    w("| load average (1, 5, 15 min) | start %s; end %s |" % (facts["load_start"],
                                                             facts["load_end"]))
    loads = [float(facts[k].split(",")[0]) for k in ("load_start", "load_end")]
    if max(loads) >= 0.5 * float(facts["nproc"]):
        w("")
        w("**Measured under load**: the 1-minute load average (%s at the start, %s at the end) was "
          "at least half the %s cores (other builds were running), so other processes took CPU "
          "time in the middle of timed runs; medians are upper estimates and ratios noisier than "
          "on a quiet machine (see \"Noise\")." % (facts["load_start"].split(",")[0],
                                                  facts["load_end"].split(",")[0], facts["nproc"]))
        w("")
    w("| LibTorch (FusionLens) | %s |" % facts["libtorch"])
    w("| PyTorch (reference) | %s, `/usr/bin/python3` %s |" % (facts["torch"], facts["python"]))
    w("| BLAS | %s |" % facts["blas"])
    w("| fusionlens-cli | `%s` (%s) |" % (facts["cli"], facts["cli_facts"]))
    w("| git | HEAD %s (%s); %s |" % (facts["git_head"], facts["git_subject"],
                                      facts["git_dirty"]))
    w("| osra/cmgm sources | %s |" % facts["git_attn"])
    w("| wall time of the run | %.0f s |" % facts["elapsed"])
    w("")

    measured = {r["module"] for r in rows}
    skipped = [m for m in ref.MODULE_IDS if m not in measured]
    quick = any(r["iters"] < 5 for r in rows)
    if skipped or quick:
        w("**Partial run**: %s%s%s." % (
            "not measured in this run: %s (`--modules`)" % ", ".join(skipped) if skipped else "",
            "; " if skipped and quick else "",
            "few iterations (`--quick`), so medians are rough" if quick else ""))
        w("")

    by_threads = {}
    for r in rows:
        by_threads.setdefault(r["threads"], []).append(r)
    slower_all = []
    for threads, trows in sorted(by_threads.items()):
        for group, title in (("small", "Small inputs"), ("large", "Large inputs")):
            grows = [r for r in trows if r["group"] == group]
            if not grows:
                continue
            shapes = sorted({shape_text(r["shape"]) for r in grows})
            w("## %s, %d thread%s (%s)" % (title, threads, "" if threads == 1 else "s",
                                           ", ".join(shapes)))
            w("")
            w("| module | shape | iters | FusionLens median ms | reference median ms | "
              "ratio (median) | FusionLens min ms | reference min ms | ratio (min) | "
              "load at start |")
            w("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
            for r in grows:
                w("| %s | %s | %d | %s | %s | **%s** | %s | %s | %s | %s |" % (
                    r["module"], shape_text(r["shape"]), r["iters"], fmt_ms(r["fl_median"]),
                    fmt_ms(r["ref_median"]), fmt_ratio(r["ratio_median"]), fmt_ms(r["fl_min"]),
                    fmt_ms(r["ref_min"]), fmt_ratio(r["ratio_min"]), r["load"]))
                if r.get("fl_error") or r.get("ref_error"):
                    w("")
                    w("%s: %s" % (r["module"], r.get("fl_error") or r.get("ref_error")))
            gm = geomean([r["ratio_median"] for r in grows])
            gm_min = geomean([r["ratio_min"] for r in grows])
            w("")
            w("Geometric mean of the ratios: %s (medians), %s (minima)."
              % (fmt_ratio(gm), fmt_ratio(gm_min)))
            slower = [r for r in grows if r["ratio_median"] is not None and r["ratio_median"] < 1]
            clear = [r for r in slower if r["ratio_median"] < NOISE_LOW]
            close = [r for r in slower if r["ratio_median"] >= NOISE_LOW]

            def describe(r):
                text = ("**%s** %s: %.0f%% slower by the medians (ratio %.2f; ratio of the "
                        "minima %s)" % (r["module"], shape_text(r["shape"]),
                                        (1 / r["ratio_median"] - 1) * 100, r["ratio_median"],
                                        fmt_ratio(r["ratio_min"])))
                if r["ratio_median"] < NOISE_LOW and (r["ratio_min"] or 0) >= NOISE_LOW:
                    text += ", but the minima agree within the noise band, so probably load noise"
                if r["module"] in SAME_WORK:
                    text += " (both sides run the same kernels for this module, see below)"
                return text
            faster = [r for r in grows if (r["ratio_median"] or 0) >= 1 / NOISE_LOW]
            w("")
            w("FusionLens is faster beyond the noise (median ratio >= %.2f) on: %s." % (
                1 / NOISE_LOW, ", ".join("%s (%.2f)" % (r["module"], r["ratio_median"])
                                         for r in faster) or "none"))
            w("")
            if clear:
                w("FusionLens is slower beyond the noise (median ratio < %.1f): %s."
                  % (NOISE_LOW, "; ".join(describe(r) for r in clear)))
            else:
                w("FusionLens is not slower than the reference beyond the noise (median ratio "
                  "< %.1f) on any module here." % NOISE_LOW)
            if close:
                w("")
                w("Slower by the medians but within the noise band (%.1f-1.0): %s."
                  % (NOISE_LOW, "; ".join(describe(r) for r in close)))
            slower_all.extend(slower)
            w("")

    w("## Against the seeds' own code, and the physical bound")
    w("")
    w("**seed** = the seed's own class, read from its page in the seeds directory and executed "
      "by `bench/seed_bench.py` at run time (its docstring says how the pages are turned into "
      "code; nothing is copied into the project), timed like the reference: fresh process, "
      "%d warm-up runs, default parameters, `torch.no_grad()`. **ratio = seed / FusionLens**. "
      "**GFLOP** and **MB moved** = the module's dense-product FLOPs and compulsory memory traffic "
      "(inputs read and outputs written once), from the maths in modules.md, all formulas in "
      "`bench/bounds.py`; **bound** = GFLOP at this machine's float32 GEMM rate or MB at its "
      "memory bandwidth, whichever takes longer (the resource in brackets), both measured in "
      "this run (a 1024^2 `torch.mm`, a 256 MiB copy); **FusionLens / bound** says how far a "
      "module is from what the hardware allows (1.0 = at the bound; below 1.0 the timed "
      "repetitions found their inputs still in the CPU caches, which the DRAM bandwidth of the "
      "bound does not credit, or the rates were measured in a busier moment). **est.** = the time "
      "estimate `run` makes before a run (core/run/estimate.h). BLAS in FusionLens's process: "
      "%s." % (WARMUP, facts.get("fl_blas", "?")))
    w("")
    for threads, trows in sorted(by_threads.items()):
        rates = (facts.get("rates") or {}).get(str(threads)) or {}
        w("### %d thread%s (measured in this run: GEMM %s GFLOP/s, bandwidth %s GB/s)" % (
            threads, "" if threads == 1 else "s",
            "%.1f" % rates["gemm_gflops"] if rates.get("gemm_gflops") else "?",
            "%.1f" % rates["bandwidth_gbs"] if rates.get("bandwidth_gbs") else "?"))
        w("")
        w("| module | shape | FusionLens median ms | seed median ms | ratio vs seed | "
          "reference median ms | ratio vs reference | GFLOP | MB moved | bound ms | "
          "FusionLens / bound | est. ms | est. peak memory |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")

        def line(name, shape, fl_ms, seed_ms, ref_ms, est, b, peak):
            bound = b.get("bound_ms") if b else None
            w("| %s | %s | %s | %s | **%s** | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                name, shape_text(shape), fmt_ms(fl_ms), fmt_ms(seed_ms),
                fmt_ratio(ratio(seed_ms, fl_ms)), fmt_ms(ref_ms), fmt_ratio(ratio(ref_ms, fl_ms)),
                "%.4g" % (b["flops"] / 1e9) if b else "n/a",
                "%.4g" % (b["bytes"] / 1e6) if b else "n/a",
                "%s (%s)" % (fmt_ms(bound), b["bound_by"]) if bound else "n/a",
                "%.1f" % (fl_ms / bound) if fl_ms and bound else "n/a",
                fmt_ms(est), "%.1f MiB" % (peak / 2 ** 20) if peak else "n/a"))
        for r in trows:
            line(r["module"], r["shape"], r["fl_median"], r.get("seed_median"), r["ref_median"],
                 r.get("fl_estimated_ms"), r.get("bound"), r.get("fl_peak_bytes"))
            if r.get("lean_outputs"):
                line("%s (`--outputs %s`)" % (r["module"], r["lean_outputs"]), r["shape"],
                     r.get("lean_median"), r.get("seed_median"), r["ref_median"], None,
                     r.get("lean_bound"), r.get("lean_peak_bytes"))
        w("")
        for group in ("small", "large"):
            gm = geomean([r.get("seed_ratio_median") for r in trows if r["group"] == group])
            w("Geometric mean of the ratios vs seed, %s inputs: %s. " % (group, fmt_ratio(gm)))
        far = sorted(((r["fl_median"] / r["bound"]["bound_ms"], r) for r in trows
                      if r.get("bound") and r["fl_median"] and r["group"] == "large"),
                     key=lambda x: -x[0])
        if far:
            w("")
            w("Furthest from the bound at the large shapes: %s; closest: %s." % (
                ", ".join("%s %.1fx" % (r["module"], f) for f, r in far[:3]),
                ", ".join("%s %.1fx" % (r["module"], f) for f, r in far[-3:])))
        missing = sorted({"%s (%s)" % (r["module"], r["seed_error"]) for r in trows
                          if r.get("seed_error")})
        if missing:
            w("")
            w("No seed timing: %s." % "; ".join(missing))
        w("")

    w("## Where the implementations do different work")
    w("")
    w("Both sides run the same ATen kernels for the same maths, except where the C++ code "
      "chose a different op (read from the code; probe recording is off in `fusionlens-cli "
      "bench`, so probes cost FusionLens nothing here):")
    w("")
    for modules, text, _ in CODE_DIFFERENCES:
        w("- **%s**: %s." % (modules, text))
    w("")
    if facts.get("kernels"):
        w("The differing kernels alone, timed in PyTorch in the same run (minimum of 30, %s "
          "thread%s, ms):" % (facts["kernel_threads"], "" if facts["kernel_threads"] == 1
                              else "s"))
        w("")
        w("| shape | FusionLens's op | ms | reference's op | ms |")
        w("|---|---|---:|---|---:|")
        for _, shape, fl_name, fl_ms, ref_name, ref_ms in facts["kernels"]:
            w("| %s | `%s` | %.3f | `%s` | %.3f |" % (shape_text(shape), fl_name, fl_ms,
                                                     ref_name, ref_ms))
        w("")

    alloc = facts.get("allocator")
    if alloc and all(alloc.get(k) for k in ("fl_default", "ref_default", "fl_warm", "ref_warm")):
        w("## Allocator")
        w("")
        w("glibc's malloc serves blocks above its mmap threshold (128 KiB at start) with fresh "
          "mappings, paying a page fault per 4 KiB page on first touch, and returns them on "
          "free. It raises the threshold (up to 32 MiB) only after a process has freed a larger "
          "mapped block, so how often a module's outputs are page-faulted in depends on what "
          "the process did before. Timing the reference inside this long-running script, as "
          "an earlier version of it did, gave the reference an allocator warmed by the modules "
          "before it; both sides now run in fresh processes with default settings. The effect, "
          "one module at %s, median of %d, ms, default settings vs `GLIBC_TUNABLES=%s` "
          "(roughly what a long-lived process such as the desktop app ends up with):"
          % (shape_text(alloc["shape"]), alloc["iters"], WARM_MALLOC))
        w("")
        w("| module | FusionLens default | FusionLens warm | reference default | reference warm |")
        w("|---|---:|---:|---:|---:|")
        w("| %s | %s | %s | %s | %s |" % (alloc["module"], fmt_ms(alloc["fl_default"]),
                                          fmt_ms(alloc["fl_warm"]), fmt_ms(alloc["ref_default"]),
                                          fmt_ms(alloc["ref_warm"])))
        w("")

    w("## Noise")
    w("")
    w("These are wall-clock timings on a shared development machine (%s cores; other "
      "engineers compile on it). The load average is recorded above and per module; at a load "
      "near or above the core count, other processes take CPU time in the middle of timed "
      "runs and a single run can be several times slower than the minimum. The minimum is the "
      "least disturbed estimate of each side; the median is what a user sees. Treat ratios "
      "within about +-10%% (0.9-1.1) as equal. Modules that take a few microseconds (se, eca) "
      "also show timer and scheduler granularity. Runs with few iterations (osra, cmgm and "
      "mfe at the large shapes) have wider spreads." % facts["nproc"])
    w("")
    w("Both sides call the same `libtorch_cpu.so.1.13` kernels (Debian's python3-torch and "
      "libtorch-dev are one build), so in kernel-bound cases (large inputs, attention) the "
      "ratio is expected near 1; FusionLens can only win the per-op overhead that Python adds "
      "(module `__call__`, argument parsing, tensor wrapping), a few microseconds per op "
      "(se: %s), which only shows where the kernels themselves are that short (small inputs, "
      "modules with few and cheap ops). Matrix products go through %s, the same library for both sides." % (se_note(rows), facts["blas"]))
    w("")
    for kept in kept_sections(path):
        w(kept)
        w("")
    with open(path, "w") as f:
        f.write("\n".join(out))
    return slower_all


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cli", default=os.environ.get("FL_CLI",
                                                    os.path.join(REPO, "build/bin/fusionlens-cli")))
    ap.add_argument("--cli-label", default="",
                    help="name of the binary in the report (run_bench.sh times a private copy)")
    ap.add_argument("--threads", default=os.environ.get("BENCH_THREADS", "1,%d" % os.cpu_count()),
                    help="comma-separated thread counts (default 1 and all cores)")
    ap.add_argument("--quick", action="store_true", help="few iterations (a smoke test)")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--json", default=os.path.join(HERE, "results.json"))
    ap.add_argument("--modules", default="", help="comma-separated subset (default all)")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite --out from the measurements saved in --json, measure nothing")
    args = ap.parse_args(argv)

    if args.report_only:
        with open(args.json) as f:
            saved = json.load(f)
        write_report(args.out, saved["rows"], saved["facts"])
        print("rewrote %s from %s" % (os.path.relpath(args.out), os.path.relpath(args.json)))
        return 0

    if not os.access(args.cli, os.X_OK):
        print("compare.py: %s is not an executable fusionlens-cli (build first: make build, or "
              "set FL_CLI)" % args.cli, file=sys.stderr)
        return 2
    threads_list = sorted({int(t) for t in args.threads.replace(" ", ",").split(",") if t})
    wanted = [m for m in args.modules.split(",") if m]
    iters_table = QUICK_ITERS if args.quick else ITERS

    start = time.time()
    facts = {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": cpu_model(), "nproc": str(os.cpu_count()), "mem": mem_total(),
        "threads": ", ".join(str(t) for t in threads_list), "load_start": loadavg(),
        "torch": torch.__version__, "python": platform.python_version(),
        "libtorch": sh("dpkg-query -W -f='libtorch1.13 ${Version}' libtorch1.13") or "?",
        "blas": blas_info(), "fl_blas": fl_blas(args.cli), "cli": args.cli_label or (
            os.path.relpath(args.cli, REPO) if args.cli.startswith(REPO) else args.cli),
        "cli_facts": file_facts(args.cli),
    }
    head, subject, dirty, attn = git_state()
    facts["git_head"], facts["git_subject"] = head, subject
    facts["git_dirty"] = ("working tree has uncommitted changes in %d tracked file(s)"
                          % len(dirty.splitlines())) if dirty else "clean working tree"
    if attn:
        changed = ", ".join(l[3:] for l in attn.splitlines())
        src_time = newest_source_mtime([l[3:] for l in attn.splitlines()])
        try:
            cli_time = os.stat(args.cli).st_mtime
        except OSError:
            cli_time = 0
        facts["git_attn"] = "uncommitted changes in %s; " \
            "the benchmarked binary is %s than the newest of them" % (
                changed, "newer" if cli_time >= src_time else "OLDER")
    else:
        facts["git_attn"] = "as committed at HEAD"

    rows = []
    flip = False
    facts["rates"] = {}
    for threads in threads_list:
        rates = bounds.measure_rates(threads)
        facts["rates"][str(threads)] = rates
        print("threads %d: GEMM %.1f GFLOP/s, bandwidth %.1f GB/s" % (
            threads, rates["gemm_gflops"], rates["bandwidth_gbs"]), flush=True)
        for group, items in groups():
            for module, shape in items:
                if wanted and module not in wanted:
                    continue
                iters = iters_table[group].get(module, iters_table[group]["default"])
                load = loadavg().split(",")[0]
                flip = not flip
                if flip:
                    fl = run_fl(args.cli, module, shape, iters, threads)
                    rf = run_ref(module, shape, iters, threads)
                    sd = run_seed(module, shape, iters, threads)
                else:
                    sd = run_seed(module, shape, iters, threads)
                    rf = run_ref(module, shape, iters, threads)
                    fl = run_fl(args.cli, module, shape, iters, threads)
                lean = (run_fl(args.cli, module, shape, iters, threads,
                               outputs=OUTPUTS_ONLY[module]) if module in OUTPUTS_ONLY else {})
                row = {"group": group, "module": module, "shape": shape, "iters": iters,
                       "threads": threads, "load": load,
                       "fl_median": fl.get("median_ms"), "fl_min": fl.get("min_ms"),
                       "ref_median": rf.get("median_ms"), "ref_min": rf.get("min_ms"),
                       "seed_median": sd.get("median_ms"), "seed_min": sd.get("min_ms"),
                       "seed_error": sd.get("error"),
                       "fl_estimated_ms": fl.get("estimated_ms"),
                       "bound": analytic_bound(module, shape, rates),
                       "fl_peak_bytes": fl.get("estimated_peak_bytes"),
                       "fl_blas": fl.get("blas"),
                       "cli_gemm_gflops": fl.get("machine_gemm_gflops"),
                       "cli_bandwidth_gbs": fl.get("machine_bandwidth_gbs"),
                       "ns_per_score": fl.get("attention_ns_per_score")}
                if lean:
                    row.update({"lean_outputs": OUTPUTS_ONLY[module],
                                "lean_median": lean.get("median_ms"), "lean_min": lean.get("min_ms"),
                                "lean_peak_bytes": lean.get("estimated_peak_bytes"),
                                "lean_bound": analytic_bound(module, shape, rates, cam=False),
                                "lean_error": lean.get("error")})
                if "error" in fl:
                    row["fl_error"] = "FusionLens: " + str(fl["error"])
                if "error" in rf:
                    row["ref_error"] = "reference: " + str(rf["error"])
                row["ratio_median"] = ratio(row["ref_median"], row["fl_median"])
                row["ratio_min"] = ratio(row["ref_min"], row["fl_min"])
                row["seed_ratio_median"] = ratio(row["seed_median"], row["fl_median"])
                row["seed_ratio_min"] = ratio(row["seed_min"], row["fl_min"])
                if lean:
                    row["lean_seed_ratio"] = ratio(row["seed_median"], row["lean_median"])
                rows.append(row)
                print("%-18s %-11s t=%d  FL %10s  ref %10s  seed %10s  ratio ref %5s seed %5s"
                      "%s (load %s)"
                      % (module, shape_text(shape), threads, fmt_ms(row["fl_median"]),
                         fmt_ms(row["ref_median"]), fmt_ms(row["seed_median"]),
                         fmt_ratio(row["ratio_median"]), fmt_ratio(row["seed_ratio_median"]),
                         ("  %s only %s" % (row["lean_outputs"], fmt_ms(row["lean_median"])))
                         if lean else "", load), flush=True)
    facts["kernel_threads"] = threads_list[0]
    facts["kernels"] = kernel_pairs(threads_list[0])
    if not wanted or "cbam-joint" in wanted:
        facts["allocator"] = allocator_effect(args.cli, "cbam-joint", LARGE,
                                              iters_table["large"]["default"], threads_list[0])
    facts["load_end"] = loadavg()
    facts["elapsed"] = time.time() - start
    slower = write_report(args.out, rows, facts)
    with open(args.json, "w") as f:
        json.dump({"facts": facts, "rows": rows}, f, indent=1)
        f.write("\n")
    print("wrote %s (%.0f s)" % (os.path.relpath(args.out), facts["elapsed"]))
    if slower:
        print("FusionLens slower (median) on: " + ", ".join(
            "%s %s (%.2f)" % (r["module"], shape_text(r["shape"]), r["ratio_median"])
            for r in slower))
    return 0


if __name__ == "__main__":
    sys.exit(main())
