#!/usr/bin/python3
"""End-to-end tests of fusionlens-cli on TorchScript files and captures.

    script_cli_test.py CASE

Uses the fixtures of make_script_fixtures.py (FL_SCRIPT_FIXTURES) and the CLI (FL_CLI).
Every case name is a function case_NAME below; tests/CMakeLists.txt registers each.
"""
import json
import os
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from cli_support import cli, expect, fail, read_safetensors  # noqa: E402 (tests/ on the path first)

FIX = os.environ.get("FL_SCRIPT_FIXTURES", "build/script_fixtures")


def fx(name):
    return os.path.join(FIX, name)


def case_inspect_text():
    r = cli("inspect", fx("net.pt"), "--shape", "1,3,64,64")
    expect(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
    for want in ("layers.0.cbam.ChannelGate.sigmoid", "layers.1.cbam.SpatialGate.sigmoid",
                 "channel_weights", "spatial_map", "[1, 1, 16, 16]", "stride 4", "stride 2",
                 "attention points (4)", "output [1, 10]"):
        expect(want in r.stdout, "no %r in:\n%s" % (want, r.stdout))


def case_inspect_json():
    r = cli("inspect", fx("builtin/osra.traced.pt"), "--json", "--shape", "1,32,8,8")
    expect(r.returncode == 0, r.stderr)
    j = json.loads(r.stdout)
    expect(j["format"] == "torchscript", j)
    expect(len(j["sha256"]) == 64, j["sha256"])
    pts = {p["name"]: p for p in j["points"]}
    expect(pts["softmax"]["kind"] == "attention_matrix", pts)
    expect(pts["softmax"]["shape"] == [1, 8, 64, 16], pts)
    expect(j["outputs"][0]["shape"] == [1, 32, 8, 8], j["outputs"])
    expect("aten::softmax" in j["operators"], j["operators"])


def case_inspect_guessed_shape():
    # No --shape: the first weights say 32 channels; said to be assumed.
    r = cli("inspect", fx("builtin/cbam.traced.pt"))
    expect(r.returncode == 0, r.stderr)
    expect("[1, 32, 32, 32] (assumed" in r.stdout, r.stdout)
    expect("ChannelGate.sigmoid" in r.stdout and "channel_weights" in r.stdout, r.stdout)


def case_inspect_control_flow():
    r = cli("inspect", fx("control_flow.pt"), "--json", "--shape", "1,4,6,6")
    expect(r.returncode == 0, r.stderr)
    j = json.loads(r.stdout)
    expect([p["name"] for p in j["points"]] == ["sigmoid"], j["points"])
    names = [p["name"] for p in j["not_capturable"]]
    expect(names == ["softmax", "sigmoid_1"], names)
    expect("prim::If" in j["not_capturable"][0]["reason"], j["not_capturable"])


def case_run_script():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.safetensors")
        r = cli("run", "--script", fx("net.pt"), "--input", fx("net.inputs.safetensors") + ":input.0",
                "--save", out)
        expect(r.returncode == 0, r.stderr)
        got, meta = read_safetensors(out)
        want, _ = read_safetensors(fx("net.expected.safetensors"))
        expect(np.abs(got["output"] - want["output"]).max() < 1e-5, "output differs")
        for p in ("layers.0.cbam.ChannelGate.sigmoid", "layers.1.cbam.SpatialGate.sigmoid"):
            expect(np.abs(got["probe." + p] - want[p]).max() < 1e-5, p)
        expect(meta["point.layers.1.cbam.SpatialGate.sigmoid.kind"] == "spatial_map", meta)
        expect(meta["point.layers.1.cbam.SpatialGate.sigmoid.stride"] == "4", meta)
        expect(len(meta["script.sha256"]) == 64, meta)


def case_run_script_module_outputs():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.safetensors")
        r = cli("run", "--script", fx("net.pt"), "--input", fx("net.inputs.safetensors") + ":input.0",
                "--save", out, "--module-outputs", "--quiet")
        expect(r.returncode == 0, r.stderr)
        got, meta = read_safetensors(out)
        want, _ = read_safetensors(fx("net.expected.safetensors"))
        for p in ("layers.0.cbam", "layers.1", "stem"):
            expect(np.abs(got["probe." + p] - want[p]).max() < 1e-5, p)
        expect(meta["point.stem.kind"] == "feature_map", meta)


def case_run_script_preprocess():
    # A whole network on a photo: --preprocess makes it ready; the output is what PyTorch
    # computes from the same pixels prepared by hand.
    from PIL import Image
    with tempfile.TemporaryDirectory() as tmp:
        g = torch.Generator().manual_seed(5)
        pixels = (torch.rand((64, 48, 3), generator=g) * 255).round().to(torch.uint8)
        photo = os.path.join(tmp, "photo.png")
        Image.fromarray(pixels.numpy()).save(photo)
        out = os.path.join(tmp, "out.safetensors")
        text = "size=none,order=bgr,range=255,mean=1:2:3,std=4:5:6"
        r = cli("run", "--script", fx("net.pt"), "--input", photo, "--preprocess", text, "--save", out, "--quiet")
        expect(r.returncode == 0, r.stderr)
        got, meta = read_safetensors(out)
        x = pixels.permute(2, 0, 1).float().flip(0).unsqueeze(0)  # BGR, [0,255]
        x = (x - torch.tensor([1., 2., 3.]).view(1, 3, 1, 1)) / torch.tensor([4., 5., 6.]).view(1, 3, 1, 1)
        want = torch.jit.load(fx("net.pt"))(x)
        expect((torch.from_numpy(got["output"].copy()) - want).abs().max() < 1e-4,
               "output differs from PyTorch's")
        expect(list(got["probe.layers.1.cbam.SpatialGate.sigmoid"].shape) == [1, 1, 16, 12], got.keys())
        expect(meta["preprocess"] == text, meta)
        r = cli("run", "--script", fx("net.pt"), "--input", photo, "--preprocess", "size=224by224",
                "--save", out)
        expect(r.returncode == 2, "exit %d" % r.returncode)
        expect("size '224by224'" in r.stderr, r.stderr)


def case_run_script_wrong_inputs():
    r = cli("run", "--script", fx("builtin/aff.traced.pt"), "--input",
            fx("builtin/aff.inputs.safetensors") + ":input.0", "--save", "/tmp/never.safetensors")
    expect(r.returncode == 2, "exit %d" % r.returncode)
    expect("takes 2 --input" in r.stderr, r.stderr)


def case_run_script_failure_says_why():
    # a traced CBAM fed the wrong number of channels fails inside the TorchScript interpreter:
    # one line with the input shape and the interpreter's cause, not its traceback header
    with tempfile.TemporaryDirectory() as tmp:
        x = os.path.join(tmp, "x.npy")
        np.save(x, np.zeros((1, 5, 8, 8), dtype=np.float32))
        r = cli("run", "--script", fx("builtin/cbam.traced.pt"), "--input", x, "--save",
                os.path.join(tmp, "out.safetensors"))
    expect(r.returncode == 2, "exit %d: %s" % (r.returncode, r.stderr))
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    expect(len(lines) == 1, r.stderr)
    expect("failed on input(s) of shape [1, 5, 8, 8]: " in lines[0], lines[0])
    expect("The following operation failed" not in lines[0], lines[0])


def case_run_script_threads_checked():
    # --threads goes through the number parser: twenty digits are a usage error, not a wrap
    for bad in ("99999999999999999999", "0", "2x"):
        r = cli("run", "--script", fx("builtin/cbam.traced.pt"), "--input", fx("builtin/cbam.inputs.safetensors"),
                "--threads", bad, "--save", "/tmp/never.safetensors")
        expect(r.returncode == 2, "--threads %s: exit %d" % (bad, r.returncode))
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        expect(len(lines) == 1 and "--threads" in lines[0], r.stderr)


def case_run_script_memory_budget():
    # a network's memory is capped while it runs: the first allocation past --max-memory stops
    # it with exit 2 and one line naming the size; the output is not written
    with tempfile.TemporaryDirectory() as tmp:
        x = os.path.join(tmp, "x.npy")
        np.save(x, np.zeros((1, 3, 64, 64), dtype=np.float32))
        out = os.path.join(tmp, "out.safetensors")
        r = cli("run", "--script", fx("net.pt"), "--input", x, "--max-memory", "64K", "--save", out)
        expect(r.returncode == 2, "exit %d: %s" % (r.returncode, r.stderr))
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        expect(len(lines) == 1, r.stderr)
        expect("needs more memory than the budget: an allocation of" in lines[0], lines[0])
        expect("--max-memory" in lines[0], lines[0])
        expect(not os.path.exists(out), "output written")
        r = cli("run", "--script", fx("net.pt"), "--input", x, "--max-memory", "1G", "--save", out, "--quiet")
        expect(r.returncode == 0, r.stderr)
        expect(os.path.exists(out), "output missing")
        r = cli("run", "--script", fx("net.pt"), "--input", x, "--max-memory", "99999999999999999999T",
                "--save", out)
        expect(r.returncode == 2 and "--max-memory" in r.stderr, r.stderr)


def case_unsafe_refused():
    for name, op in (("unsafe_print.pt", "prim::Print"), ("unsafe_warn.pt", "aten::warn"),
                     ("unsafe_setstate.pt", "__setstate__")):
        for args in (["inspect", fx(name)],
                     ["run", "--script", fx(name), "--input", fx("net.inputs.safetensors") + ":input.0",
                      "--save", "/tmp/never.safetensors"]):
            r = cli(*args)
            expect(r.returncode == 2, "%s: exit %d" % (args, r.returncode))
            expect(op in r.stderr and name in r.stderr, r.stderr)
            expect(len(r.stderr.strip().splitlines()) == 1, r.stderr)
    r = cli("inspect", fx("unsafe_print.pt"))
    expect("in block " in r.stderr, r.stderr)


def case_bad_files_refused():
    for name in ("bad_truncated.pt", "bad_flipped.pt", "bad_garbage.pt", "bad_empty.pt"):
        r = cli("run", "--script", fx(name), "--input", fx("net.inputs.safetensors") + ":input.0",
                "--save", "/tmp/never.safetensors")
        expect(r.returncode == 2, "%s: exit %d %s" % (name, r.returncode, r.stderr))
        expect(name in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr)
    r = cli("inspect", fx("bad_flipped.pt"))
    expect(r.returncode == 2 and "code/" in r.stderr, r.stderr)


def case_capture_matches():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.safetensors")
        r = cli("run", "--capture", fx("aff_match.flcap"), "--save", out)
        expect(r.returncode == 0, "exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
        expect("matches your PyTorch run, max |diff| " in r.stdout, r.stdout)
        expect("built-in aff" in r.stdout, r.stdout)
        got, meta = read_safetensors(out)
        expect("probe.weight" in got and meta["capture.class"] == "AFF", meta)


def case_capture_modified_flagged():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.safetensors")
        r = cli("run", "--capture", fx("aff_modified.flcap"), "--save", out)
        expect(r.returncode == 3, "exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
        expect("differs from your module by " in r.stdout, r.stdout)
        expect("showing its own TorchScript instead" in r.stdout, r.stdout)
        expect("the trace reproduces your run" in r.stdout, r.stdout)
        got, _ = read_safetensors(out)
        expect("probe.sigmoid" in got, list(got))


def case_capture_not_a_capture():
    r = cli("run", "--capture", fx("net.inputs.safetensors"))
    expect(r.returncode == 2 and "not a FusionLens capture" in r.stderr, r.stderr)


def case_help_mentions_script():
    r = cli("--help")
    expect(r.returncode == 0, r.stderr)
    for want in ("run --script FILE.pt", "run --capture FILE.flcap", "inspect FILE.pt", "3 run --capture"):
        expect(want in r.stdout, want)


def main():
    name = sys.argv[1]
    fn = globals().get("case_" + name)
    if fn is None:
        fail("unknown case " + name)
    fn()
    print("ok", name)


if __name__ == "__main__":
    main()
