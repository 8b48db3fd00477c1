#!/usr/bin/python3
"""End-to-end tests of `fusionlens-cli render` (figure specs).

  figure_test.py NAME    one case; exit 0 when it passes

Environment: FL_CLI (the binary), FL_SOURCE_DIR.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_support import CLI, cli, fail, render_error, render_ok  # noqa: E402 (tests/ on the path first)

SRC = os.path.abspath(os.environ.get("FL_SOURCE_DIR", "."))
IMAGES = os.path.join(SRC, "resources", "images")


def write_spec(tmp, **over):
    spec = {
        "schema_version": 1,
        "inputs": [os.path.join(IMAGES, "rubberwhale1.png"), os.path.join(IMAGES, "rubberwhale2.png")],
        "features": ["filterbank:channels=16,stride=8"],
        "columns": [{"module": "aff"}, {"module": "iaff", "seed": 3}, {"module": "cafm"}],
        "rows": ["auto"],
        "difference": [0, 1],
        "layout": {"width": "double", "dpi": 300},
    }
    spec.update(over)
    path = os.path.join(tmp, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


def png_chunks(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail(f"{path} is not a PNG")
    i, chunks = 8, {}
    while i < len(data):
        n = struct.unpack(">I", data[i:i + 4])[0]
        chunks.setdefault(data[i + 4:i + 8].decode(), data[i + 8:i + 8 + n])
        i += 12 + n
    return chunks


def case_png_exact(tmp):
    spec = write_spec(tmp)
    a, b = os.path.join(tmp, "a.png"), os.path.join(tmp, "b.png")
    render_ok(spec, "--out", a)
    render_ok(spec, "--out", b)
    if open(a, "rb").read() != open(b, "rb").read():
        fail("the same spec gave two different PNGs")
    c = png_chunks(a)
    w, h = struct.unpack(">II", c["IHDR"][:8])
    if w != round(7.16 * 300):
        fail(f"double-column PNG at 300 dpi should be {round(7.16 * 300)} px wide, is {w}")
    x, y, unit = struct.unpack(">IIB", c["pHYs"])
    if unit != 1 or abs(x - 300 / 0.0254) > 1 or x != y:
        fail(f"pHYs says {x}x{y} per unit {unit}, expected {300 / 0.0254:.0f} per metre")


def case_spec_rerenders(tmp):
    spec = write_spec(tmp)
    out = os.path.join(tmp, "fig", "figure.png")
    os.makedirs(os.path.dirname(out))
    render_ok(spec, "--out", out)
    written = json.load(open(out + ".spec.json"))
    for key in ("schema_version", "inputs", "columns", "scale", "layout", "alpha"):
        if key not in written:
            fail(f"the written spec lacks {key!r}")
    for i in written["inputs"]:
        if len(i.get("sha256", "")) != 64 or os.path.isabs(i["path"]):
            fail(f"written input {i} should have a relative path and a sha256")
    # Move the figure's folder with its inputs: the relative paths must follow.
    moved = os.path.join(tmp, "moved", "deeper")
    shutil.copytree(os.path.dirname(out), moved)
    again = os.path.join(tmp, "again.png")
    r = cli("render", os.path.join(moved, "figure.png.spec.json"), "--out", again)
    if r.returncode != 2 or "does not exist" not in r.stderr:
        fail(f"a spec whose inputs moved away should say which file is missing: {r.stderr!r}")
    render_ok(out + ".spec.json", "--out", again)
    if open(out, "rb").read() != open(again, "rb").read():
        fail("re-rendering the written spec gave a different PNG")


def case_pdf_vector(tmp):
    spec = write_spec(tmp, layout={"width": "single", "font_family": "DejaVu Sans"},
                      columns=[{"module": "cbam"}, {"module": "spatial-attention"}], difference=None,
                      rows=["spatial_weight", "channel_weight"])
    out = os.path.join(tmp, "fig.pdf")
    render_ok(spec, "--out", out)
    fonts = subprocess.run(["pdffonts", out], capture_output=True, text=True).stdout.splitlines()[2:]
    if not fonts:
        fail("the PDF has no fonts: text was not written as text")
    for line in fonts:
        if "Type 3" in line or " no " in line.split("Identity")[-1][:5] or "yes" not in line:
            fail(f"font not embedded as TrueType/Type 1: {line}")
    images = subprocess.run(["pdfimages", "-list", out], capture_output=True, text=True).stdout.splitlines()[2:]
    if not images:
        fail("the PDF has no raster heatmaps")
    for line in images:
        f = line.split()
        if int(f[12]) < 300 or int(f[13]) < 300:
            fail(f"heatmap raster below 300 ppi: {line}")
    info = subprocess.run(["pdfinfo", out], capture_output=True, text=True).stdout
    m = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts", info)
    if not m or abs(float(m.group(1)) - 3.5 * 72) > 0.5:
        fail(f"single-column PDF should be 252 pt wide: {m and m.group(0)}")
    # Reproducible: the same spec gives the same bytes (no wall-clock date inside), and a
    # SOURCE_DATE_EPOCH becomes the creation date.
    again = os.path.join(tmp, "again.pdf")
    render_ok(spec, "--out", again)
    if open(out, "rb").read() != open(again, "rb").read():
        fail("the same spec gave two different PDFs")
    if b"/CreationDate" in open(out, "rb").read():
        fail("the PDF carries the time it was written")
    dated = os.path.join(tmp, "dated.pdf")
    r = subprocess.run([CLI, "render", spec, "--out", dated], capture_output=True, text=True,
                       env={**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}, timeout=300)
    if r.returncode != 0:
        fail(f"render with SOURCE_DATE_EPOCH failed: {r.stderr}")
    if b"/CreationDate (D:20231114221320Z)" not in open(dated, "rb").read():
        fail("SOURCE_DATE_EPOCH=1700000000 should give the creation date 2023-11-14 22:13:20 UTC")
    if "CreationDate" not in subprocess.run(["pdfinfo", dated], capture_output=True, text=True).stdout:
        fail("pdfinfo cannot read the creation date back")


def case_pdf_text_inside_page(tmp):
    """Every word of the PDF (tick labels of the colour bars: the bottom "0" once was cut by the
    page edge) lies inside the page (pdftotext -bbox gives each word's box in points)."""
    for n, (layout, rows) in enumerate((({"width": "single"}, ["spatial_weight"]), ({"width": "double", "titles": False}, ["auto"]))):
        spec = write_spec(tmp, layout=layout, columns=[{"module": "cbam"}, {"module": "spatial-attention"}],
                          difference=None, rows=rows)
        out = os.path.join(tmp, f"fig{n}.pdf")
        render_ok(spec, "--out", out)
        html = subprocess.run(["pdftotext", "-bbox", out, "-"], capture_output=True, text=True).stdout
        page = re.search(r'<page width="([\d.]+)" height="([\d.]+)"', html)
        if not page:
            fail("pdftotext -bbox gave no page")
        w, h = float(page.group(1)), float(page.group(2))
        words = re.findall(r'<word xMin="([\d.-]+)" yMin="([\d.-]+)" xMax="([\d.-]+)" yMax="([\d.-]+)">([^<]*)</word>', html)
        if not words:
            fail("no text found in the PDF")
        for x0, y0, x1, y1, text in words:
            x0, y0, x1, y1 = map(float, (x0, y0, x1, y1))
            if x0 < -0.01 or y0 < -0.01 or x1 > w + 0.01 or y1 > h + 0.01:
                fail(f"{layout}: '{text}' at x {x0:.1f}-{x1:.1f}, y {y0:.1f}-{y1:.1f} pt leaves the {w:.1f} x {h:.1f} pt page")


def case_svg(tmp):
    spec = write_spec(tmp)
    out = os.path.join(tmp, "fig.svg")
    render_ok(spec, "--out", out)
    root = ET.parse(out).getroot()
    width = root.get("width")
    if not width.endswith("mm") or abs(float(width[:-2]) - 7.16 * 25.4) > 0.2:
        fail(f"SVG width {width} is not 7.16 in")
    ns = "{http://www.w3.org/2000/svg}"
    if not list(root.iter(ns + "image")) or not list(root.iter(ns + "text")):
        fail("the SVG should hold raster heatmaps and vector text")


def case_no_overwrite(tmp):
    spec = write_spec(tmp)
    out = os.path.join(tmp, "fig.png")
    render_ok(spec, "--out", out)
    before = open(out, "rb").read()
    render_error(spec, "--out", out, expect=r"fig\.png exists")
    if open(out, "rb").read() != before:
        fail("a refused export changed the file")
    render_ok(spec, "--out", out, "--overwrite")


def case_changed_input(tmp):
    spec = write_spec(tmp, inputs=[{"path": os.path.join(IMAGES, "rubberwhale1.png"), "sha256": "0" * 64},
                                   os.path.join(IMAGES, "rubberwhale2.png")])
    out = os.path.join(tmp, "fig.png")
    render_error(spec, "--out", out, expect=r"changed since the spec was written")
    render_ok(spec, "--out", out, "--ignore-hashes")


def case_bad_specs(tmp):
    out = os.path.join(tmp, "fig.png")
    render_error(write_spec(tmp, colours="viridis"), "--out", out, expect=r"'colours' is not a known key")
    render_error(write_spec(tmp, columns=["nope"], difference=None), "--out", out, expect=r"unknown module 'nope'")
    render_error(write_spec(tmp, rows=[{"probe": "weight", "view": "sideways"}]), "--out", out,
                 expect=r"view 'sideways'")
    render_error(write_spec(tmp, schema_version=99), "--out", out, expect=r"newer version")
    render_error(write_spec(tmp), "--out", os.path.join(tmp, "fig.gif"), expect=r"\.png, \.svg or \.pdf")
    render_error(write_spec(tmp, columns=[{"module": "cmgm"}], difference=None), "--out", out,
                 expect=r"cmgm|64")  # cmgm needs 64 channels; the spec gives 16
    bad = os.path.join(tmp, "broken.json")
    open(bad, "w").write("{ not json")
    render_error(bad, "--out", out, expect=r"not valid JSON")
    if os.path.exists(out):
        fail("a refused render wrote a file")


def case_batch(tmp):
    folder = os.path.join(tmp, "images")
    os.makedirs(folder)
    for name in ("butterfly.jpg", "fruits.jpg"):
        shutil.copy(os.path.join(IMAGES, name), folder)
    open(os.path.join(folder, "notes.txt"), "w").write("not an image")
    spec = write_spec(tmp, inputs=[os.path.join(IMAGES, "fruits.jpg")], columns=["cbam", "eca"],
                      difference=None, rows=["auto"])
    outdir = os.path.join(tmp, "out")
    r = render_ok(spec, "--batch", folder, "--out-dir", outdir)
    for stem in ("butterfly", "fruits"):
        if not os.path.exists(os.path.join(outdir, stem + ".png")):
            fail(f"batch did not write {stem}.png: {os.listdir(outdir)}")
        s = json.load(open(os.path.join(outdir, stem + ".png.spec.json")))
        if not s["inputs"][0]["path"].endswith(stem + ".jpg"):
            fail(f"{stem}'s spec names input {s['inputs'][0]['path']}")
    if "[2/2] fruits" not in r.stderr:
        fail(f"no progress lines on stderr: {r.stderr!r}")


def case_statistics(tmp):
    # Unstandardised features: standardised ones have zero channel means, on which SE's
    # average-pool squeeze gives sigmoid(0) = 0.5 everywhere (a constant ranking, Spearman NaN);
    # 64 channels so that SE's C/16 bottleneck is not a single (possibly dead) ReLU.
    spec = write_spec(tmp, columns=["cbam", {"module": "se"}, "eca"], difference=None,
                      rows=["auto"], inputs=[os.path.join(IMAGES, "fruits.jpg")],
                      features=["filterbank:channels=64,stride=8,standardize=0"])
    out = os.path.join(tmp, "fig.png")
    render_ok(spec, "--out", out)
    import csv
    rows = list(csv.DictReader(open(out + ".stats.csv", newline="")))
    stats = {(r["statistic"], r["module_a"], r["module_b"]) for r in rows}
    for need in [("channel_entropy", "CBAM", ""), ("channel_gini", "SE", ""),
                 ("channel_spearman", "CBAM", "SE"), ("channel_spearman", "SE", "ECA")]:
        if need not in stats:
            fail(f"statistics lack {need}: {sorted(stats)}")
    for r in rows:
        v = float(r["value"])
        if r["statistic"].endswith(("entropy", "gini")) and not 0 <= v <= 1:
            fail(f"{r} out of [0, 1]")
        if r["statistic"] == "channel_spearman" and not -1 <= v <= 1:
            fail(f"{r} out of [-1, 1]")


def case_trained_modules_spec(tmp):
    """docs/examples/trained-modules.spec.json (the docs' figure of the trained demo modules,
    `make figures`) renders headless to a valid PDF with its hashes checked, and those hashes
    are the shipped files' and the demo manifest's: the docs cannot silently rot."""
    import hashlib
    spec_path = os.path.join(SRC, "docs", "examples", "trained-modules.spec.json")
    spec = json.load(open(spec_path))
    base = os.path.dirname(spec_path)
    manifest = json.load(open(os.path.join(SRC, "resources", "demo", "manifest.json")))["networks"]

    def sha(path):
        return hashlib.sha256(open(os.path.join(base, path), "rb").read()).hexdigest()

    for i, inp in enumerate(spec["inputs"]):
        if inp.get("sha256") != sha(inp["path"]):
            fail(f"inputs[{i}] {inp['path']}: the spec's sha256 is not the file's")
    modules = []
    for i, col in enumerate(spec["columns"]):
        net = manifest.get(col["module"])
        if net is None:
            fail(f"columns[{i}] {col['module']} is not a trained demo network")
        modules.append(col["module"])
        w = col["weights"]
        if os.path.basename(w["path"]) != net["files"]["weights"] or w.get("sha256") != net["sha256"]["weights"]:
            fail(f"columns[{i}] weights {w} are not the manifest's {net['files']['weights']} {net['sha256']['weights']}")
        if w["sha256"] != sha(w["path"]):
            fail(f"columns[{i}] weights: the spec's sha256 is not the file's")
        (feat,) = col["features"]
        stem = feat["spec"].split("path=", 1)[1].split(",")[0]
        if os.path.basename(stem) != net["files"]["stem"] or feat.get("sha256") != net["sha256"]["stem"]:
            fail(f"columns[{i}] stem {feat} is not the manifest's {net['files']['stem']}")
        if feat["sha256"] != sha(stem):
            fail(f"columns[{i}] stem: the spec's sha256 is not the file's")
        if {k: str(v) for k, v in col.get("params", {}).items()} != net["params"]:
            fail(f"columns[{i}] params {col.get('params')} are not the trained network's {net['params']}")
    for need in ["cbam", "se", "eca", "spatial-attention", "cbam-joint", "ms-cam", "safm"]:
        if need not in modules:
            fail(f"the figure lacks the trained {need}")
    out = os.path.join(tmp, "trained.pdf")
    render_ok(spec_path, "--out", out, "--quiet")  # hashes checked: no --ignore-hashes
    data = open(out, "rb").read()
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-32:]:
        fail("not a PDF")
    info = subprocess.run(["pdfinfo", out], capture_output=True, text=True)
    if info.returncode != 0 or not re.search(r"^Pages:\s+1$", info.stdout, re.M):
        fail(f"pdfinfo: {info.returncode} {info.stdout} {info.stderr}")
    # Every column drew its map or bars (an empty panel would say why in the text).
    text = subprocess.run(["pdftotext", out, "-"], capture_output=True, text=True).stdout
    for col in spec["columns"]:
        if col["label"] not in text:
            fail(f"the PDF lacks the column title {col['label']}: {text!r}")
    if "has no" in text or "failed" in text:
        fail(f"an empty panel: {text!r}")
    import csv
    stats = list(csv.DictReader(open(out + ".stats.csv", newline="")))
    kinds = {r["statistic"] for r in stats}
    for need in ["channel_entropy", "channel_gini", "map_entropy", "map_gini", "channel_spearman", "map_iou_top10%"]:
        if need not in kinds:
            fail(f"the statistics lack {need}: {sorted(kinds)}")
    # The shipped PDF and statistics are what the spec gives today.
    # (to 1e-4: another CPU may round LibTorch's convolutions differently in the last digits)
    shipped = list(csv.DictReader(open(os.path.join(base, "trained-modules.stats.csv"), newline="")))
    key = lambda r: (r["statistic"], r["row"], r["module_a"], r["module_b"])
    now = {key(r): float(r["value"]) for r in stats}
    if {key(r) for r in shipped} != set(now) or any(abs(float(r["value"]) - now[key(r)]) > 1e-4 for r in shipped):
        fail("docs/examples/trained-modules.stats.csv is not what the spec renders: run `make figures`")
    # A changed stem is refused, naming it (exit 2).
    bad = json.load(open(spec_path))
    for inp in bad["inputs"]:
        inp["path"] = os.path.join(base, inp["path"])
    for col in bad["columns"]:
        col["weights"]["path"] = os.path.join(base, col["weights"]["path"])
        col["features"][0]["spec"] = col["features"][0]["spec"].replace("path=", "path=" + base + "/")
    bad["columns"][0]["features"][0]["sha256"] = "0" * 64
    bad_path = os.path.join(tmp, "bad.json")
    json.dump(bad, open(bad_path, "w"))
    render_error(bad_path, "--out", os.path.join(tmp, "bad.pdf"), expect=r"stem\.pt.*changed since the spec")


CASES = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print("usage: figure_test.py " + "|".join(CASES))
        sys.exit(2)
    with tempfile.TemporaryDirectory() as tmp:
        CASES[sys.argv[1]](tmp)
    print("ok")
