#!/usr/bin/python3
"""Interaction benchmark of the desktop app: writes the "Interaction" section of bench/results.md.

Called by `make bench-interaction` (after the build); run with Debian's /usr/bin/python3.
Runs build/bin/fl_interaction_bench (bench/interaction.cpp: the real window offscreen, input ->
heatmap painted, ~30 repetitions; cold start of build/bin/fusionlens to its first painted
heatmap, 5 runs), records the load average before and after, saves bench/interaction.json and
replaces the "## Interaction" section of bench/results.md (bench/compare.py keeps it when it
rewrites the rest). Targets (issue 15): <= 100 ms input -> picture, <= 1.5 s cold start.

usage: /usr/bin/python3 bench/interaction.py [--bench PATH] [--gui PATH] [--reps 30] [--cold 5]
"""

import argparse
import datetime
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, os.pardir))
SECTION = "## Interaction"
TARGET_MS = 100.0
COLD_TARGET_MS = 1500.0


def loadavg():
    with open("/proc/loadavg") as f:
        return ", ".join(f.read().split()[:3])


def replace_section(text, title, body):
    """`text` with the section that starts at the line `title` (up to the next "## " line)
    replaced by `body`, or `body` appended when there is none."""
    lines = text.split("\n")
    start = next((i for i, l in enumerate(lines) if l.strip() == title), None)
    if start is None:
        return text.rstrip("\n") + "\n\n" + body.rstrip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join(lines[:start] + body.rstrip("\n").split("\n") + [""] + lines[end:]).rstrip("\n") + "\n"


def verdict(ms, target):
    if not ms:
        return "not measured"
    return "meets the target (<= %.0f ms)" % target if ms <= target else \
        "**misses** the target (<= %.0f ms) by %.0f ms" % (target, ms - target)


def loaded(facts):
    """More runnable work than half the cores, at the start or the end (1-minute average)."""
    one = max(float(facts["load_start"].split(",")[0]), float(facts["load_end"].split(",")[0]))
    return one > 0.5 * float(facts["nproc"])


def section(j, facts):
    def row(name, key):
        s = j.get(key) or {}
        if not s.get("n"):
            return "| %s | n/a | n/a | n/a | 0 |" % name
        return "| %s | %.1f | %.1f | %.1f | %d |" % (name, s["median_ms"], s["p90_ms"], s["min_ms"], s["n"])
    shape = "x".join(str(v) for v in j["input_shape"])
    out = [SECTION, "",
           "Written by bench/interaction.py (`make bench-interaction`) on %s; do not edit by hand. "
           "%s: load average (1, 5, 15 min) %s at the start and %s at the end, on %s cores%s." % (
               facts["date"], "**Measured under load**" if loaded(facts) else "Load",
               facts["load_start"], facts["load_end"], facts["nproc"],
               " shared with other work, so these are upper estimates of what a quiet machine gives"
               if loaded(facts) else ""),
           "",
           "The real window (`MainWindow`, `QT_QPA_PLATFORM=offscreen`, 1280x800), cbam on %s "
           "resized to %s, features `%s` (input %s), the view on `probe.spatial_weight`, %d "
           "LibTorch threads on the worker, %s. Each repetition is a real input: an Up/Down key on "
           "the Module dock's kernel_size box (the module runs again) and a colormap chosen in "
           "the view bar (no run). Timed from just before the input to the end of the first "
           "paint of the heatmap's plot widget that shows the new picture (bench/interaction.cpp). "
           "%d repetitions each; %d timed out." % (
               j["image"], j["size"], j["features"], shape, j["threads"], j["blas"], j["reps"],
               j["timeouts"]),
           "",
           "| ms | median | p90 | min | n |",
           "|---|---:|---:|---:|---:|",
           row("parameter change: input -> heatmap painted", "param_total"),
           row("... input -> run started on the worker", "param_until_start"),
           row("... the run (RunResult total on the worker)", "param_run"),
           row("... result in the document -> frame rendered and handed to the plot, replot starts", "param_rebuild"),
           row("... ... of which the map view's render thread (off the GUI thread)", "param_render"),
           row("... replot (map drawn into the plot buffer) -> painted (GUI thread)", "param_paint"),
           row("view change (colormap): input -> heatmap painted", "view_total"),
           row("... input -> frame rendered and handed to the plot, replot starts", "view_rebuild"),
           row("... ... of which the map view's render thread (off the GUI thread)", "view_render"),
           row("... replot -> painted (GUI thread)", "view_paint"),
           row("cold start: `fusionlens --demo` -> first heatmap painted", "cold_demo"),
           row("cold start: `fusionlens --module cbam IMAGE` -> first heatmap painted", "cold_image"),
           ""]
    p = (j.get("param_total") or {}).get("median_ms")
    v = (j.get("view_total") or {}).get("median_ms")
    cd = (j.get("cold_demo") or {}).get("median_ms")
    ci = (j.get("cold_image") or {}).get("median_ms")
    out += ["Against issue 15's targets, by the medians: parameter change %s; view change %s; "
            "cold start (demo) %s; cold start (image) %s." % (
                verdict(p, TARGET_MS), verdict(v, TARGET_MS), verdict(cd, COLD_TARGET_MS),
                verdict(ci, COLD_TARGET_MS)), ""]
    if j.get("cold_error"):
        out += ["Cold start error: %s" % j["cold_error"], ""]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default=os.path.join(REPO, "build/bin/fl_interaction_bench"))
    ap.add_argument("--gui", default=os.path.join(REPO, "build/bin/fusionlens"))
    ap.add_argument("--image", default="/work/shared/data/images/fruits.jpg")
    ap.add_argument("--reps", default="30")
    ap.add_argument("--cold", default="5")
    ap.add_argument("--out", default=os.path.join(HERE, "results.md"))
    ap.add_argument("--json", default=os.path.join(HERE, "interaction.json"))
    args = ap.parse_args(argv)
    for exe in (args.bench, args.gui):
        if not os.access(exe, os.X_OK):
            print("interaction.py: %s not found; build first (make build)" % exe, file=sys.stderr)
            return 2
    facts = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
             "load_start": loadavg(), "nproc": str(os.cpu_count())}
    print("load average: %s on %s cores" % (facts["load_start"], facts["nproc"]), flush=True)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([args.bench, "--image", args.image, "--reps", args.reps, "--gui", args.gui,
                           "--cold", args.cold, "--json", args.json], env=env)
    facts["load_end"] = loadavg()
    if not os.path.exists(args.json):
        print("interaction.py: the benchmark wrote no results (exit %d)" % proc.returncode, file=sys.stderr)
        return 1
    with open(args.json) as f:
        j = json.load(f)
    j["facts"] = facts
    with open(args.json, "w") as f:
        json.dump(j, f, indent=1)
        f.write("\n")
    text = open(args.out).read() if os.path.exists(args.out) else ""
    with open(args.out, "w") as f:
        f.write(replace_section(text, SECTION, section(j, facts)))
    print("wrote the Interaction section of %s" % os.path.relpath(args.out, REPO))
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
