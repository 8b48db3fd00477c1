#!/usr/bin/python3
"""End-to-end tests of fusionlens-cli.

  cli_test.py reference MODULE    every reference case of MODULE through `run`, checked
                                  against the Python reference (check_result.py)
  cli_test.py error NAME          one bad-input case: exit status 2, one stderr line
  cli_test.py ok NAME             one success case (list, info, bench, ...)

Environment: FL_CLI (the binary), FL_SOURCE_DIR, FL_REFERENCE_CASES.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_support import CLI, cli, expect, fail, read_safetensors  # noqa: E402 (tests/ on the path first)

SRC = os.environ.get("FL_SOURCE_DIR", ".")
CASES = os.environ.get("FL_REFERENCE_CASES", "")
PY = "/usr/bin/python3"


def npy(tmp, name, array):
    path = os.path.join(tmp, name)
    np.save(path, array)
    return path


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def save_state_dict(tmp, name, code):
    """Writes a state_dict with torch.save from a small Python snippet defining `sd`."""
    path = os.path.join(tmp, name)
    script = "import torch, collections\n" + code + f"\ntorch.save(sd, {path!r})\n"
    subprocess.run([PY, "-c", script], check=True)
    return path


def aff_state_dict_code(c=16, r=4, extra="", drop=None, reshape=None):
    """An aff state_dict for c channels, optionally with a key dropped, added or reshaped."""
    return f"""
import sys
sys.path.insert(0, {os.path.join(SRC, 'tests', 'reference')!r})
import fl_reference
torch.manual_seed(0)  # the same weights in every process that builds them
m = fl_reference.build('aff', {{'r': '{r}', 'scale': '1'}}, [(1, {c}, 5, 5), (1, {c}, 5, 5)])
sd = m.state_dict()
{'del sd[%r]' % drop if drop else ''}
{'sd[%r] = torch.zeros(%r)' % reshape if reshape else ''}
{extra}
"""


def network_checkpoint_code(copies=("fuse.aff",), c=16):
    """A whole "network" holding aff submodule(s) at `copies`, saved as a nested training
    checkpoint with DataParallel names, next to the plain aff state_dict (plain.pt)."""
    return aff_state_dict_code(c=c) + f"""
import torch.nn as nn
net = nn.Module()
net.head = nn.Conv2d(3, 5, 3)
for i, path in enumerate({list(copies)!r}):
    parent = net
    parts = path.split('.')
    for p in parts[:-1]:
        if not hasattr(parent, p):
            parent.add_module(p, nn.Module())
        parent = getattr(parent, p)
    copy = fl_reference.build('aff', {{'r': '4', 'scale': '1'}}, [(1, {c}, 5, 5), (1, {c}, 5, 5)])
    copy.load_state_dict(m.state_dict())
    parent.add_module(parts[-1], copy)
opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
sd = {{'epoch': 7, 'arch': 'net', 'optimizer': opt.state_dict(),
       'state_dict': collections.OrderedDict(('module.' + k, v)
                                             for k, v in net.state_dict().items())}}
"""


# --- error cases: each returns (args, substrings expected in stderr) ------------------

def error_cases(tmp):
    """name -> a function building (args, substrings expected on stderr); fixtures that
    need torch are made only for the case that runs."""
    x = npy(tmp, "x.npy", rand(1, 16, 5, 7))
    r = npy(tmp, "r.npy", rand(1, 16, 5, 7, seed=1))
    other = npy(tmp, "other.npy", rand(1, 16, 6, 7))
    five_d = npy(tmp, "five.npy", rand(1, 1, 16, 5, 7))
    c3 = npy(tmp, "c3.npy", rand(1, 3, 5, 7))
    bools = npy(tmp, "bools.npy", np.ones((5, 7), dtype=bool))
    garbage = os.path.join(tmp, "garbage.npy")
    with open(garbage, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00\xff\xffnot a header at all")
    empty = os.path.join(tmp, "empty.npy")
    open(empty, "wb").close()
    text = os.path.join(tmp, "notes.txt")
    with open(text, "w") as f:
        f.write("hello")
    out = os.path.join(tmp, "out.safetensors")
    good = ["run", "--module", "aff", "--input", x, "--input", r, "--save", out]
    c64 = npy(tmp, "c64.npy", rand(1, 64, 32, 32))
    cmgm = ["run", "--module", "cmgm", "--input", c64, "--input", c64, "--save", out]
    return {
        "no_arguments": lambda: ([], ["Usage"]),
        "unknown_command": lambda: (["frobnicate"], ["unknown command 'frobnicate'"]),
        "unknown_module": lambda: (["run", "--module", "nope", "--input", x, "--save", out],
                           ["unknown module 'nope'", "aff"]),
        "info_unknown_module": lambda: (["info", "nope"], ["unknown module 'nope'"]),
        "info_missing_module": lambda: (["info"], ["missing MODULE"]),
        "scores_bad_extension": lambda: (good + ["--scores", os.path.join(tmp, "scores.txt")],
                                 ["scores.txt", ".csv or .json"]),
        "scores_no_channel_probes": lambda: (["run", "--module", "spatial-attention", "--input", x,
                                              "--save", out, "--scores", os.path.join(tmp, "s.csv")],
                                             ["'spatial-attention' has no channel scores",
                                              "spatial_weight (spatial_map)"]),
        "missing_module": lambda: (["run", "--input", x, "--save", out], ["missing --module"]),
        "missing_save": lambda: (["run", "--module", "eca", "--input", x], ["missing --save"]),
        "save_not_safetensors": lambda: (["run", "--module", "eca", "--input", x, "--save",
                                  os.path.join(tmp, "o.npy")], [".safetensors"]),
        "wrong_input_count": lambda: (["run", "--module", "aff", "--input", x, "--save", out],
                              ["aff takes 2 --input", "x, residual", "got 1"]),
        "missing_input_file": lambda: (["run", "--module", "eca", "--input", os.path.join(tmp, "no.npy"),
                                "--save", out], ["no.npy", "no such file"]),
        "unsupported_input_format": lambda: (["run", "--module", "eca", "--input", text, "--save", out],
                                     ["notes.txt", "unsupported"]),
        "corrupt_npy": lambda: (["run", "--module", "eca", "--input", garbage, "--save", out],
                        ["garbage.npy"]),
        "empty_npy": lambda: (["run", "--module", "eca", "--input", empty, "--save", out], ["empty.npy"]),
        "boolean_input": lambda: (["run", "--module", "eca", "--input", bools, "--save", out],
                          ["bools.npy", "boolean"]),
        "five_dim_input": lambda: (["run", "--module", "eca", "--input", five_d, "--save", out],
                           ["five.npy", "[H,W], [C,H,W] or [B,C,H,W]"]),
        "fusion_shape_mismatch": lambda: (["run", "--module", "aff", "--input", x, "--input", other,
                                   "--save", out], ["residual", "[1, 16, 6, 7]", "same shape"]),
        "unknown_parameter": lambda: (good + ["--set", "k=3"], ["no parameter 'k'", "known: r, scale"]),
        "parameter_out_of_range": lambda: (good + ["--set", "r=0"], ["parameter 'r'", "out of range"]),
        "parameter_not_number": lambda: (good + ["--set", "r=four"], ["parameter 'r'", "not an integer"]),
        "set_without_equals": lambda: (good + ["--set", "r"], ["not KEY=VALUE"]),
        "reduction_too_large": lambda: (["run", "--module", "ms-cam", "--input", c3, "--save", out],
                                ["3 channels", "r 4", "--set r=3"]),
        "even_kernel": lambda: (["run", "--module", "eca", "--set", "kernel_size=4", "--input", x,
                         "--save", out], ["kernel_size 4", "odd"]),
        "missing_weights_file": lambda: (good + ["--weights", os.path.join(tmp, "none.pt")],
                                 ["none.pt", "no such file"]),
        "weights_missing_key": lambda: (good + ["--weights", save_state_dict(
            tmp, "missing.pt", aff_state_dict_code(drop="local_att.0.bias"))],
                                ["missing", "local_att.0.bias"]),
        "weights_unexpected_key": lambda: (good + ["--weights", save_state_dict(
            tmp, "unexpected.pt", aff_state_dict_code(extra="sd['extra.weight'] = torch.ones(3)"))],
                                   ["unexpected", "extra.weight"]),
        "weights_shape_mismatch": lambda: (good + ["--weights", save_state_dict(
            tmp, "mismatch.pt", aff_state_dict_code(c=8))], ["local_att.0.weight", "[2, 8, 1, 1]"]),
        "weights_malicious_pickle": lambda: (good + ["--weights", malicious_pickle(tmp)],
                                     ["evil.pt", "system"]),
        "weights_not_a_checkpoint": lambda: (good + ["--weights", text], ["notes.txt"]),
        "bad_device": lambda: (good + ["--device", "tpu"], ["--device 'tpu'"]),
        "memory_budget": lambda: (good + ["--max-memory", "1K"], ["memory budget", "--max-memory"]),
        "bad_memory_size": lambda: (good + ["--max-memory", "lots"], ["'lots'", "memory size"]),
        "max_time_exceeded": lambda: (cmgm + ["--max-time", "0.001"],
                                      ["cmgm: this run is estimated to take about", "GFLOP",
                                       "over the time limit of 1 ms", "--max-time"]),
        "bad_max_time": lambda: (good + ["--max-time", "soon"], ["--max-time 'soon'", "duration"]),
        "unknown_output_name": lambda: (cmgm + ["--outputs", "output.0,cam"],
                                        ["'cam' is not one of its outputs", "output.1",
                                         "probe.attention"]),
        "bad_seed": lambda: (good + ["--seed", "x1"], ["--seed 'x1'"]),
        "unknown_option": lambda: (good + ["--frobnicate"], ["unknown option '--frobnicate'"]),
        "bench_bad_shape": lambda: (["bench", "--shape", "1,2,3"], ["B,C,H,W"]),
        "bench_unknown_module": lambda: (["bench", "--module", "nope"], ["unknown module 'nope'"]),
        "weights_ambiguous_prefix": lambda: (good + ["--weights", save_state_dict(
            tmp, "two.pth", network_checkpoint_code(copies=("enc.aff", "dec.aff")))],
                                     ["two.pth", "several prefixes", "'state_dict.module.dec.aff.'",
                                      "'state_dict.module.enc.aff.'", "--prefix"]),
        "weights_prefix_absent": lambda: (good + ["--prefix", "nope", "--weights", save_state_dict(
            tmp, "net.pth", network_checkpoint_code())],
                                  ["net.pth", "no tensor name starts with 'nope.'", "'state_dict.'"]),
        "weights_prefix_wrong_module": lambda: (good + ["--prefix", "head", "--weights", save_state_dict(
            tmp, "net.pth", network_checkpoint_code())],
                                        ["net.pth", "tensors under 'state_dict.module.head.'", "missing"]),
        "prefix_without_weights": lambda: (good + ["--prefix", "a."], ["--prefix needs --weights"]),
        "npz_missing_name": lambda: (["run", "--module", "eca", "--input", npz(tmp) + ":nope",
                                      "--save", out], ["feats.npz", "no array named 'nope'", "x, y"]),
        "npz_needs_name": lambda: (["run", "--module", "eca", "--input", npz(tmp), "--save", out],
                                   ["feats.npz", "holds 2 arrays", "feats.npz:NAME"]),
        "channels_last_bad_rank": lambda: (["run", "--module", "eca", "--channels-last", "--input",
                                            five_d, "--save", out], ["five.npy", "for a channels-last tensor"]),
        "bad_features_spec": lambda: (["run", "--module", "eca", "--input", png(tmp), "--features",
                                       "nonsense:x=1", "--save", out], ["nonsense"]),
        "inspect_missing_file": lambda: (["inspect", os.path.join(tmp, "no.pt")], ["no.pt", "no such file"]),
        "inspect_without_file": lambda: (["inspect"], ["inspect: missing FILE"]),
        "inspect_shape_without_module": lambda: (["inspect", x, "--shape", "1,2,3,4"], ["need --module"]),
        "inspect_ambiguous": lambda: (["inspect", save_state_dict(
            tmp, "two.pth", network_checkpoint_code(copies=("enc.aff", "dec.aff"))), "--module", "aff",
                                       "--shape", "1,16,5,5"], ["two.pth", "several prefixes", "--prefix"]),
    }


def npz(tmp):
    path = os.path.join(tmp, "feats.npz")
    np.savez_compressed(path, x=rand(1, 16, 5, 7), y=rand(16, 5, 7, seed=2))
    return path


def png(tmp, name="photo.png", size=(23, 17), seed=0):
    """A small RGB PNG written with PIL."""
    from PIL import Image
    path = os.path.join(tmp, name)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def malicious_pickle(tmp):
    """A torch.save archive whose pickle calls os.system: must be refused, never run."""
    path = os.path.join(tmp, "evil.pt")
    marker = os.path.join(tmp, "pwned")
    script = f"""
import os, torch
class Evil:
    def __reduce__(self):
        return (os.system, ({'touch ' + marker!r},))
torch.save({{'local_att.0.weight': Evil()}}, {path!r})
"""
    subprocess.run([PY, "-c", script], check=True)
    return path


def run_error(name):
    with tempfile.TemporaryDirectory() as tmp:
        cases = error_cases(tmp)
        if name not in cases:
            fail(f"unknown error case {name}")
        args, expected = cases[name]()
        p = cli(*args)
        lines = [l for l in p.stderr.splitlines() if l.strip()]
        print("$ fusionlens-cli", " ".join(args))
        print("exit", p.returncode, "stderr:", p.stderr.strip()[:2000])
        if p.returncode != 2:
            fail(f"exit status {p.returncode}, expected 2")
        if name != "no_arguments" and len(lines) != 1:
            fail(f"expected one stderr line, got {len(lines)}")
        for s in expected:
            if s not in p.stderr:
                fail(f"stderr lacks {s!r}")
        if os.path.exists(os.path.join(tmp, "pwned")):
            fail("the malicious pickle ran code")
        if os.path.exists(os.path.join(tmp, "out.safetensors")):
            fail("a failed run wrote its output file")
    print("ok")


# --- success cases -------------------------------------------------------------------

def ok_cases():
    # One line: tests/cli/CMakeLists.txt reads the names from it.
    return ["list", "list_json", "info", "info_json", "help", "version", "run_seeded_deterministic", "run_image_shapes", "bench", "bench_json", "cuda_or_clear_error", "weights_from_network_checkpoint", "inspect_checkpoint", "inspect_tensor_files", "input_formats_agree", "image_inputs", "run_channel_scores", "run_outputs_selection", "interrupt_chunked_run"]


def run_ok(name):
    with tempfile.TemporaryDirectory() as tmp:
        if name == "list":
            p = cli("list")
            expect(p.returncode == 0, p.stderr)
            for mid in ["ms-cam", "aff", "iaff", "eca", "spatial-attention"]:
                expect(mid in p.stdout, f"list lacks {mid}")
        elif name == "list_json":
            p = cli("list", "--json")
            mods = json.loads(p.stdout)
            ids = [m["id"] for m in mods]
            expect(len(ids) == len(set(ids)) and "aff" in ids, ids)
            aff = next(m for m in mods if m["id"] == "aff")
            expect(aff["inputs"] == ["x", "residual"] and aff["probes"] == ["weight"], aff)
        elif name == "info":
            p = cli("info", "iaff")
            expect(p.returncode == 0, p.stderr)
            for s in ["use_global_att2", "weight2", "arXiv:2009.14082", "residual"]:
                expect(s in p.stdout, f"info lacks {s}")
        elif name == "info_json":
            j = json.loads(cli("info", "eca", "--json").stdout)
            expect(j["params"][0]["name"] == "kernel_size" and j["params"][0]["default"] == "7", j)
            expect(j["probes"][0] == {"name": "channel_weight", "kind": "channel_weights",
                                      "shape": "[B,C]", "range": [0.0, 1.0],
                                      "help": j["probes"][0]["help"]}, j)
        elif name == "help":
            p = cli("--help")
            expect(p.returncode == 0 and "fusionlens-cli run --module ID" in p.stdout, p.stdout)
            for command in ("bench", "run", "render", "inspect"):  # `COMMAND --help` helps too
                q = cli(command, "--help")
                expect(q.returncode == 0 and q.stdout == p.stdout, command + " --help: " + q.stderr)
        elif name == "version":
            p = cli("--version")
            expect(p.returncode == 0 and p.stdout.startswith("fusionlens-cli "), p.stdout)
            blas = [l for l in p.stdout.splitlines() if "BLAS: " in l]
            expect(len(blas) == 1 and "unknown" not in blas[0], p.stdout)
            # the default thread count is the number of cores (it printed LibTorch's 1)
            expect(("threads: %d by default" % len(os.sched_getaffinity(0))) in p.stdout, p.stdout)
        elif name == "run_outputs_selection":
            x = npy(tmp, "x.npy", rand(1, 64, 9, 7))
            y = npy(tmp, "y.npy", rand(1, 64, 9, 7, seed=2))
            full, lean = os.path.join(tmp, "full.safetensors"), os.path.join(tmp, "lean.safetensors")
            for out, extra in ((full, []), (lean, ["--outputs", "output.0"])):
                p = cli("run", "--module", "cmgm", "--input", x, "--input", y, "--save", out,
                        "--device", "cpu", *extra)
                expect(p.returncode == 0, p.stderr)
            a, _ = read_safetensors(full)
            b, _ = read_safetensors(lean)
            expect(sorted(a) == ["output.0", "output.1", "probe.attention"], sorted(a))
            expect(sorted(b) == ["output.0"], sorted(b))
            expect(np.abs(a["output.0"] - b["output.0"]).max() <= 1e-5, "fused output.0 differs")
        elif name == "interrupt_chunked_run":
            # A long cmgm run (outputs only: the fused attention in bands of query rows); SIGINT
            # once its first progress line shows. It must stop at the next band: exit 130,
            # no output file. No timing: the signal follows the progress line.
            import signal
            import threading
            x = npy(tmp, "x.npy", rand(1, 8, 256, 256))
            out = os.path.join(tmp, "out.safetensors")
            proc = subprocess.Popen(
                [CLI, "run", "--module", "cmgm", "--set", "mode=generalized", "--set", "num_heads=1",
                 "--input", x, "--input", x, "--outputs", "output.0", "--max-time", "0",
                 "--progress", "--device", "cpu", "--save", out],
                stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            watchdog = threading.Timer(600, proc.kill)  # a hang fails instead of blocking ctest
            watchdog.start()
            seen = []
            try:
                for line in proc.stderr:
                    seen.append(line)
                    if line.startswith("progress: ") and "ETA" in line:
                        proc.send_signal(signal.SIGINT)
                        break
                rest = proc.stderr.read()
                rc = proc.wait()
            finally:
                watchdog.cancel()
            print("".join(seen) + rest)
            expect(any(l.startswith("progress: ") for l in seen), "no progress line before the end")
            expect(rc == 130, f"exit {rc}, expected 130 after SIGINT")
            expect("interrupted" in rest, rest)
            expect(not os.path.exists(out), "an interrupted run wrote its output")
            expect(not [f for f in os.listdir(tmp) if f.endswith(".tmp")], os.listdir(tmp))
        elif name == "run_seeded_deterministic":
            x = npy(tmp, "x.npy", rand(2, 8, 5, 7))
            r = npy(tmp, "r.npy", rand(2, 8, 5, 7, seed=3))
            outs = []
            for i, seed in enumerate(["4", "4", "5"]):
                o = os.path.join(tmp, f"o{i}.safetensors")
                p = cli("run", "--module", "iaff", "--seed", seed, "--input", x, "--input", r,
                        "--save", o, "--device", "cpu")
                expect(p.returncode == 0, p.stderr)
                outs.append(read_safetensors(o))
            t0, meta = outs[0]
            expect(sorted(t0) == ["output", "probe.weight", "probe.weight2"], sorted(t0))
            expect(t0["output"].shape == (2, 8, 5, 7), t0["output"].shape)
            expect(meta.get("module") == "iaff" and meta.get("seed") == "4", meta)
            expect(all(np.array_equal(t0[k], outs[1][0][k]) for k in t0), "same seed differs")
            expect(not np.array_equal(t0["output"], outs[2][0]["output"]), "seed is ignored")
            w = t0["probe.weight"]
            expect(w.min() > 0 and w.max() < 1, "gate outside (0,1)")
        elif name == "run_image_shapes":
            # [H,W] and [C,H,W] inputs become [1,1,H,W] and [1,C,H,W]
            x = npy(tmp, "x.npy", rand(6, 9, 11))
            o = os.path.join(tmp, "o.safetensors")
            p = cli("run", "--module", "spatial-attention", "--input", x, "--save", o)
            expect(p.returncode == 0, p.stderr)
            t, _ = read_safetensors(o)
            expect(t["output"].shape == (1, 6, 9, 11), t["output"].shape)
            expect(t["probe.spatial_weight"].shape == (1, 1, 9, 11), t["probe.spatial_weight"].shape)
        elif name == "bench":
            p = cli("bench", "--module", "eca", "--shape", "1,16,8,8", "--iters", "3")
            expect(p.returncode == 0 and "eca" in p.stdout and "median" in p.stdout, p.stdout)
        elif name == "bench_json":
            p = cli("bench", "--module", "all", "--shape", "1,16,8,8", "--iters", "2",
                    "--threads", "1", "--json")
            expect(p.returncode == 0, p.stderr)
            rows = json.loads(p.stdout)
            ids = json.loads(cli("list", "--json").stdout)
            expect(len(rows) == len(ids), "bench all misses modules")
            for row in rows:
                if "error" not in row:
                    expect(row["median_ms"] >= row["min_ms"] > 0 and row["threads"] == 1, row)
        elif name == "cuda_or_clear_error":
            x = npy(tmp, "x.npy", rand(1, 8, 5, 7))
            o = os.path.join(tmp, "o.safetensors")
            p = cli("run", "--module", "eca", "--device", "cuda", "--input", x, "--save", o)
            if p.returncode == 0:
                expect(os.path.exists(o), "no output")
            else:
                expect(p.returncode == 2 and "CUDA" in p.stderr, p.stderr)
        elif name == "weights_from_network_checkpoint":
            # The same aff weights: plain state_dict, and inside a whole network's nested
            # DataParallel training checkpoint (auto-detected and with --prefix).
            x = npy(tmp, "x.npy", rand(1, 16, 5, 7))
            r = npy(tmp, "r.npy", rand(1, 16, 5, 7, seed=1))
            plain = save_state_dict(tmp, "plain.pt", aff_state_dict_code())
            net = save_state_dict(tmp, "net.pth", network_checkpoint_code())
            results = []
            for extra in ([plain], [net], [net, "--prefix", "fuse.aff"],
                          [net, "--prefix", "state_dict.module.fuse.aff."]):
                o = os.path.join(tmp, f"o{len(results)}.safetensors")
                p = cli("run", "--module", "aff", "--device", "cpu", "--input", x, "--input", r,
                        "--save", o, "--weights", *extra)
                expect(p.returncode == 0, p.stderr)
                results.append(read_safetensors(o)[0])
                if extra[0] == net:
                    expect("under 'state_dict.module.fuse.aff.'" in p.stdout, p.stdout)
                    expect("DataParallel" in p.stdout and "ignored" in p.stdout, p.stdout)
            seeded = os.path.join(tmp, "seeded.safetensors")
            cli("run", "--module", "aff", "--device", "cpu", "--input", x, "--input", r,
                "--save", seeded)
            expect(not np.array_equal(read_safetensors(seeded)[0]["output"],
                                      results[0]["output"]), "weights were not loaded")
            for res in results[1:]:
                expect(sorted(res) == sorted(results[0]), sorted(res))
                for k in res:
                    expect(np.array_equal(res[k], results[0][k]), f"{k} differs from plain run")
        elif name == "inspect_checkpoint":
            net = save_state_dict(tmp, "net.pth", network_checkpoint_code())
            p = cli("inspect", net)
            expect(p.returncode == 0, p.stderr)
            for s in ["net.pth: torch.save", "state_dict.", "optimizer.",
                      "state_dict.module.fuse.aff.local_att.0.weight [4, 16, 1, 1] Float",
                      "epoch (int)"]:
                expect(s in p.stdout, f"inspect lacks {s!r}: {p.stdout}")
            j = json.loads(cli("inspect", net, "--json", "--module", "aff", "--shape",
                               "1,16,5,5").stdout)
            expect(j["format"] == "torch.save" and j["root"] == "dict", j)
            # an SGD optimizer before its first step holds no tensors: only the model's group
            expect("state_dict." in j["groups"], j["groups"])
            w = j["weights"]
            expect(w["ok"] and w["prefix"] == "state_dict.module.fuse.aff." and
                   not w["missing"] and len(w["matched"]) > 4, w)
            # at another channel count the same file mismatches: reported, exit 0
            p = cli("inspect", net, "--module", "aff", "--shape", "1,8,5,5")
            expect(p.returncode == 0 and "loads strictly: no" in p.stdout and
                   "mismatched: " in p.stdout and "[4, 16, 1, 1]" in p.stdout, p.stdout)
        elif name == "inspect_tensor_files":
            f = npz(tmp)
            j = json.loads(cli("inspect", f, "--json").stdout)
            expect([t["name"] for t in j["tensors"]] == ["x", "y"], j)
            expect(j["tensors"][1]["shape"] == [16, 5, 7] and j["tensors"][1]["dtype"] == "Float", j)
            p = cli("inspect", npy(tmp, "h.npy", np.zeros((3, 4), np.float16)))
            expect(p.returncode == 0 and "(root) [3, 4] Half" in p.stdout, p.stdout)
            p = cli("inspect", png(tmp))
            expect(p.returncode == 0 and "image 23x17" in p.stdout, p.stdout + p.stderr)
        elif name == "input_formats_agree":
            # one tensor as .npy, channels-last .npy, .npz entry, .pt dict entry, .safetensors
            a = rand(1, 8, 5, 7)
            code = f"""
import numpy as np, torch
a = np.load({npy(tmp, 'a.npy', a)!r})
torch.save({{'feats': {{'x': torch.from_numpy(a)}}, 'step': 3}}, {os.path.join(tmp, 'a.pt')!r})
np.savez({os.path.join(tmp, 'a.npz')!r}, other=a * 0, x=a)
np.save({os.path.join(tmp, 'hwc.npy')!r}, a[0].transpose(1, 2, 0))
"""
            subprocess.run([PY, "-c", code], check=True)
            specs = [[os.path.join(tmp, "a.npy")], [os.path.join(tmp, "a.pt") + ":feats.x"],
                     [os.path.join(tmp, "a.npz") + ":x"],
                     ["--channels-last", os.path.join(tmp, "hwc.npy")]]
            outs = []
            for i, spec in enumerate(specs):
                o = os.path.join(tmp, f"o{i}.safetensors")
                flags = spec[:-1]
                p = cli("run", "--module", "eca", "--device", "cpu", *flags, "--input", spec[-1],
                        "--save", o)
                expect(p.returncode == 0, p.stderr)
                outs.append(read_safetensors(o)[0]["output"])
            for o in outs[1:]:
                expect(np.array_equal(o, outs[0]), "input formats disagree")
        elif name == "image_inputs":
            a = png(tmp, "a.png")
            b = png(tmp, "b.png", seed=1)
            o = os.path.join(tmp, "o.safetensors")
            p = cli("run", "--module", "eca", "--device", "cpu", "--input", a, "--features",
                    "filterbank:channels=16,stride=2", "--save", o)
            expect(p.returncode == 0, p.stderr)
            expect(read_safetensors(o)[0]["output"].shape == (1, 16, 9, 12), "feature shape")
            # two images, one --features: the last given applies to both
            p = cli("run", "--module", "aff", "--device", "cpu", "--input", a, "--input", b,
                    "--features", "random:channels=8,stride=4,seed=1", "--save", o)
            expect(p.returncode == 0, p.stderr)
            expect(read_safetensors(o)[0]["output"].shape == (1, 8, 5, 6), "aff shape")
            # an image and a tensor of matching shape; default features when none given
            p = cli("run", "--module", "eca", "--device", "cpu", "--input", a, "--save", o)
            expect(p.returncode == 0, p.stderr)
            expect(read_safetensors(o)[0]["output"].shape[1] == 64, "default features")
        elif name == "run_channel_scores":
            check_channel_scores(tmp)
        else:
            fail(f"unknown ok case {name}")
    print("ok")


def check_ranks(scores, ranks, where):
    """Ranks 1..C, highest score first."""
    expect(sorted(ranks) == list(range(1, len(scores) + 1)), f"{where}: ranks {ranks}")
    for i in range(len(scores)):
        for j in range(len(scores)):
            if scores[i] > scores[j]:
                expect(ranks[i] < ranks[j], f"{where}: channel {i} outranked by {j}")


def check_channel_scores(tmp):
    """--scores CSV and JSON against the probes of the --save file: batch element 0, every
    channel probe (channel weights as is, gates as their spatial mean), nothing else."""
    x = npy(tmp, "x.npy", rand(2, 8, 5, 7))
    r = npy(tmp, "r.npy", rand(2, 8, 5, 7, seed=3))
    # cbam: one channel_weights probe; its spatial map gives no channel scores
    o, csv = os.path.join(tmp, "cbam.safetensors"), os.path.join(tmp, "cbam.csv")
    p = cli("run", "--module", "cbam", "--set", "reduction=2", "--device", "cpu", "--input", x,
            "--save", o, "--scores", csv)
    expect(p.returncode == 0, p.stderr)
    expect("channel scores (batch element 0) saved" in p.stdout, p.stdout)
    t, _ = read_safetensors(o)
    with open(csv) as f:
        lines = f.read().splitlines()
    expect(lines[0] == "probe,channel,score,rank", lines[0])
    rows = [l.split(",") for l in lines[1:]]
    expect([row[0] for row in rows] == ["channel_weight"] * 8, rows)
    expect([int(row[1]) for row in rows] == list(range(8)), rows)
    scores = np.array([row[2] for row in rows], dtype=np.float32)
    want = t["probe.channel_weight"][0]
    expect(np.array_equal(scores, want), f"csv {scores} != probe {want}")
    check_ranks(scores, [int(row[3]) for row in rows], "cbam csv")
    # iaff: two gate probes, as JSON; a rerun replaces the files
    o, js = os.path.join(tmp, "iaff.safetensors"), os.path.join(tmp, "iaff.JSON")
    for _ in range(2):
        p = cli("run", "--module", "iaff", "--device", "cpu", "--input", x, "--input", r,
                "--save", o, "--scores", js, "--quiet")
        expect(p.returncode == 0 and p.stdout == "", p.stderr + p.stdout)
    t, _ = read_safetensors(o)
    with open(js) as f:
        j = json.load(f)
    expect(j["module"] == "iaff" and j["batch"] == 0 and j["schema_version"] == 1, j)
    expect(list(j["probes"]) == ["weight", "weight2"], list(j["probes"]))
    for name, entry in j["probes"].items():
        expect(entry["kind"] == "gate" and entry["reduction"] == "spatial mean", entry)
        got = np.array(entry["scores"], dtype=np.float32)
        want = t["probe." + name][0].astype(np.float64).mean(axis=(1, 2)).astype(np.float32)
        expect(got.shape == (8,) and np.allclose(got, want, rtol=1e-6, atol=1e-7),
               f"{name}: json {got} != spatial mean {want}")
        check_ranks(got, entry["ranks"], name)


# --- reference cases through the CLI ------------------------------------------------

def run_reference(module):
    with open(os.path.join(CASES, "manifest.json")) as f:
        manifest = json.load(f)
    cases = [c for c in manifest["cases"] if c["module"] == module]
    expect(len(cases) >= 2, f"fewer than two reference cases for {module}")
    with tempfile.TemporaryDirectory() as tmp:
        for c in cases:
            out = os.path.join(tmp, c["name"] + ".safetensors")
            args = ["run", "--module", module, "--device", "cpu",
                    "--weights", os.path.join(CASES, c["weights"]), "--save", out]
            for k, v in c["params"].items():
                args += ["--set", f"{k}={v}"]
            for i in c["inputs"]:
                args += ["--input", os.path.join(CASES, i)]
            p = cli(*args)
            expect(p.returncode == 0, f"{c['name']}: exit {p.returncode}: {p.stderr}")
            chk = subprocess.run([PY, os.path.join(SRC, "tests", "reference", "check_result.py"),
                                  "--manifest", os.path.join(CASES, "manifest.json"),
                                  "--case", c["name"], "--result", out],
                                 capture_output=True, text=True)
            print(chk.stdout)
            expect(chk.returncode == 0, f"{c['name']}: {chk.stdout} {chk.stderr}")
    print("ok")


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    kind, name = sys.argv[1], sys.argv[2]
    {"error": run_error, "ok": run_ok, "reference": run_reference}[kind](name)


if __name__ == "__main__":
    main()
