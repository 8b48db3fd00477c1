#!/usr/bin/python3
"""Hostile and unusual files made at test time: special files in place of inputs,
weights, specs and outputs; numbers that overflow; files past the JSON and memory caps.

  hostile_files_test.py NAME    one case; exit 0 pass, 1 fail, 77 skipped (with the reason)

Every refusal must exit 2 with exactly one stderr line, stay under a peak-memory bound read
from getrusage (wait4) for that one command (memory is not noisy, time is), finish within a
timeout (a FIFO that blocks or /dev/zero read without end would hang), and leave outputs as
they were (a FIFO stays a FIFO, a device stays a device, /dev/null is never replaced).

Environment: FL_CLI (the binary), FL_SOURCE_DIR, FL_HOSTILE_RSS_MB (default 700).
"""
import json
import os
import resource
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

CLI = os.environ.get("FL_CLI", "build/bin/fusionlens-cli")
SRC = os.path.abspath(os.environ.get("FL_SOURCE_DIR", "."))
IMAGES = os.path.join(SRC, "resources", "images")
# The CLI with LibTorch loaded and a small run stays near 300 MiB; the unbounded readers took
# gigabytes (or never returned).
RSS_BOUND = int(os.environ.get("FL_HOSTILE_RSS_MB", "700")) << 20
SKIP = 77
VMEM = int(os.environ.get("FL_BAD_CORPUS_VMEM_MB", "3072")) << 20


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def skip(reason):
    print("SKIPPED:", reason)
    sys.exit(SKIP)


def cli(*args, timeout=60):
    """Runs the CLI; returns (exit status, stderr)."""
    p = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stderr


def limit():
    # An address-space cap as well: a reader that reads /dev/zero without end must fail here,
    # not take the shared machine's memory.
    resource.setrlimit(resource.RLIMIT_AS, (VMEM, VMEM))


def run_measured(args, timeout=60, stdout=subprocess.DEVNULL):
    """Runs the CLI; returns (exit status, stderr, the process's own peak RSS from wait4)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([CLI, *args], stdout=stdout, stderr=err,
                             stdin=subprocess.DEVNULL, env=env, preexec_fn=limit)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.monotonic() > deadline:
                os.kill(p.pid, signal.SIGKILL)
                os.wait4(p.pid, 0)
                p.returncode = -9
                fail(f"{args}: still running after {timeout} s (blocked or reading without end)")
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode(errors="replace")
    return p.returncode, text, usage.ru_maxrss * 1024


def refused(args, *expect, timeout=60):
    code, err, rss = run_measured(args, timeout)
    lines = [l for l in err.splitlines() if l.strip()]
    print(f"{' '.join(args)}\n  exit {code}, peak RSS {rss >> 20} MiB: {err.strip()[:600]}")
    if code != 2:
        fail(f"exit status {code}, expected 2")
    if len(lines) != 1:
        fail(f"expected exactly one stderr line, got {len(lines)}")
    for s in expect:
        if s not in lines[0]:
            fail(f"the message lacks {s!r}")
    for bad in ["internal error", "c10::", "std::", "libpng", "OpenCV(", "terminate"]:
        if bad in lines[0]:
            fail(f"{bad!r} in the message")
    if rss > RSS_BOUND:
        fail(f"peak RSS {rss >> 20} MiB is above the bound of {RSS_BOUND >> 20} MiB")
    return lines[0]


def npy(path, shape=(1, 16, 5, 7)):
    np.save(path, np.random.default_rng(0).standard_normal(shape).astype(np.float32))
    return path


def fifo(path):
    os.mkfifo(path)
    return path


def char_device(path):
    """A character device node (1,3: what /dev/null is) where the test may mknod; else skip."""
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError) as e:
        skip(f"cannot mknod a character device here ({e}); needs CAP_MKNOD")
    return path


def still(path, kind):
    st = os.lstat(path)
    if not kind(st.st_mode):
        fail(f"{path} was replaced (mode {oct(st.st_mode)})")


def run_args(tmp, inp, save=None, extra=()):
    return ["run", "--module", "eca", "--input", inp, "--save", save or os.path.join(tmp, "o.safetensors"),
            *extra]


def has_render():
    code, err = cli("render", "--help")
    return "built without Qt" not in err


def spec_file(tmp, inputs, **over):
    spec = {"schema_version": 1, "inputs": inputs, "features": ["rgb"],
            "columns": [{"module": "eca"}], "rows": ["auto"]}
    spec.update(over)
    path = os.path.join(tmp, "spec.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    return path


# --- special files as inputs -------------------------------------------------------------

def case_input_png_link_to_dev_zero(tmp):
    os.symlink("/dev/zero", os.path.join(tmp, "x.png"))
    refused(run_args(tmp, os.path.join(tmp, "x.png")), "x.png' is not a regular file (a character device)")


def case_input_png_link_to_dev_urandom(tmp):
    os.symlink("/dev/urandom", os.path.join(tmp, "x.png"))
    refused(run_args(tmp, os.path.join(tmp, "x.png")), "is not a regular file (a character device)")


def case_input_png_fifo(tmp):
    refused(run_args(tmp, fifo(os.path.join(tmp, "x.png"))), "x.png' is not a regular file (a FIFO)")


def case_input_npy_fifo(tmp):
    refused(run_args(tmp, fifo(os.path.join(tmp, "x.npy"))), "x.npy' is not a regular file (a FIFO)")


def case_input_safetensors_fifo(tmp):
    refused(run_args(tmp, fifo(os.path.join(tmp, "x.safetensors"))), "is not a regular file (a FIFO)")


def case_input_npz_link_to_dev_zero(tmp):
    os.symlink("/dev/zero", os.path.join(tmp, "x.npz"))
    refused(run_args(tmp, os.path.join(tmp, "x.npz")), "is not a regular file (a character device)")


def case_input_char_device_node(tmp):
    refused(run_args(tmp, char_device(os.path.join(tmp, "x.npy"))), "is not a regular file (a character device)")


def case_weights_fifo(tmp):
    x = npy(os.path.join(tmp, "x.npy"))
    refused(["run", "--module", "aff", "--input", x, "--input", x, "--weights", fifo(os.path.join(tmp, "w.pt")),
             "--save", os.path.join(tmp, "o.safetensors")], "w.pt' is not a regular file (a FIFO)")


def case_inspect_fifo(tmp):
    refused(["inspect", fifo(os.path.join(tmp, "w.safetensors"))], "is not a regular file (a FIFO)")


def case_features_torchscript_fifo(tmp):
    png = os.path.join(IMAGES, "rubberwhale1.png")
    ts = fifo(os.path.join(tmp, "net.pt"))
    refused(["run", "--module", "eca", "--input", png, "--features", f"torchscript:path={ts}",
             "--save", os.path.join(tmp, "o.safetensors")], "net.pt' is not a regular file (a FIFO)")


TORCHSCRIPT_NET = """
import sys, torch, zipfile
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
    def forward(self, x):
        return torch.relu(self.conv(x))
torch.manual_seed(0)
torch.jit.script(Net()).save(sys.argv[1])
# The same archive with every storage record cut to half its size (a valid zip).
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w") as dst:
    for info in src.infolist():
        data = src.read(info)
        if "/data/" in info.filename:
            data = data[: len(data) // 2]
        dst.writestr(info, data)
"""


def case_torchscript_truncated_records(tmp):
    script = os.path.join(tmp, "make_net.py")
    with open(script, "w") as f:
        f.write(TORCHSCRIPT_NET)
    good, cut = os.path.join(tmp, "net.pt"), os.path.join(tmp, "cut.pt")
    subprocess.run(["/usr/bin/python3", script, good, cut], check=True, timeout=120)
    png = os.path.join(IMAGES, "rubberwhale1.png")
    out = os.path.join(tmp, "o.safetensors")
    code, err = cli("run", "--module", "eca", "--input", png, "--features", f"torchscript:path={good}",
                    "--save", out)
    if code != 0:
        fail(f"the intact TorchScript network is refused: {err.strip()}")
    os.remove(out)
    refused(["run", "--module", "eca", "--input", png, "--features", f"torchscript:path={cut}", "--save", out],
            "cut.pt", "storage record", "truncated or damaged archive")
    if os.path.exists(out):
        fail("a refused run wrote its output")


# --- special files as figure specs and spec inputs ----------------------------------------

def case_render_spec_fifo(tmp):
    if not has_render():
        skip("this fusionlens-cli has no render (FL_BUILD_GUI=OFF)")
    refused(["render", fifo(os.path.join(tmp, "f.spec.json")), "--out", os.path.join(tmp, "f.png")],
            "is not a regular file (a FIFO)")


def case_render_spec_link_to_dev_zero(tmp):
    if not has_render():
        skip("this fusionlens-cli has no render (FL_BUILD_GUI=OFF)")
    os.symlink("/dev/zero", os.path.join(tmp, "f.spec.json"))
    refused(["render", os.path.join(tmp, "f.spec.json"), "--out", os.path.join(tmp, "f.png")],
            "is not a regular file (a character device)")


def case_render_spec_input_dev_zero(tmp):
    if not has_render():
        skip("this fusionlens-cli has no render (FL_BUILD_GUI=OFF)")
    spec = spec_file(tmp, [{"path": "/dev/zero", "sha256": "0" * 64}])
    refused(["render", spec, "--out", os.path.join(tmp, "f.png")], "/dev/zero' is not a regular file")


def case_render_spec_over_json_cap(tmp):
    if not has_render():
        skip("this fusionlens-cli has no render (FL_BUILD_GUI=OFF)")
    spec = spec_file(tmp, [os.path.join(IMAGES, "rubberwhale1.png")], comment="x" * (17 << 20))
    refused(["render", spec, "--out", os.path.join(tmp, "f.png")], "is at most 16777216 bytes")


def case_render_view_index_overflow(tmp):
    if not has_render():
        skip("this fusionlens-cli has no render (FL_BUILD_GUI=OFF)")
    for view in ["channel:99999999999999999999", "query:99999999999999999999,1"]:
        spec = spec_file(tmp, [os.path.join(IMAGES, "rubberwhale1.png")],
                         rows=[{"probe": "output", "view": view}])
        refused(["render", spec, "--out", os.path.join(tmp, "f.png"), "--overwrite"], "is not in [0, 2147483648]")


# --- outputs that are not regular files ---------------------------------------------------

def case_save_onto_fifo(tmp):
    x = npy(os.path.join(tmp, "x.npy"))
    out = fifo(os.path.join(tmp, "o.safetensors"))
    refused(run_args(tmp, x, out), "o.safetensors' is not a regular file (a FIFO)")
    still(out, stat.S_ISFIFO)


def case_scores_onto_fifo(tmp):
    x = npy(os.path.join(tmp, "x.npy"))
    scores = fifo(os.path.join(tmp, "s.csv"))
    refused(run_args(tmp, x, extra=["--scores", scores]), "s.csv' is not a regular file (a FIFO)")
    still(scores, stat.S_ISFIFO)
    if os.path.exists(os.path.join(tmp, "o.safetensors")):
        fail("--save was written although --scores was refused before the run")


def case_save_onto_char_device(tmp):
    x = npy(os.path.join(tmp, "x.npy"))
    out = char_device(os.path.join(tmp, "o.safetensors"))
    refused(run_args(tmp, x, out), "is not a regular file (a character device)")
    still(out, stat.S_ISCHR)


def case_save_onto_link_to_dev_null(tmp):
    x = npy(os.path.join(tmp, "x.npy"))
    out = os.path.join(tmp, "o.safetensors")
    os.symlink("/dev/null", out)
    refused(run_args(tmp, x, out), "is not a regular file (a character device)")
    still(out, stat.S_ISLNK)
    still("/dev/null", stat.S_ISCHR)


def case_render_out_onto_fifo(tmp):
    if not has_render():
        skip("this fusionlens-cli has no render (FL_BUILD_GUI=OFF)")
    spec = spec_file(tmp, [os.path.join(IMAGES, "rubberwhale1.png")])
    out = fifo(os.path.join(tmp, "f.png"))
    refused(["render", spec, "--out", out, "--overwrite"], "f.png' is not a regular file (a FIFO)")
    still(out, stat.S_ISFIFO)


# --- numbers ------------------------------------------------------------------------------

def case_max_memory_overflow(tmp):
    x = npy(os.path.join(tmp, "x.npy"))
    refused(run_args(tmp, x, extra=["--max-memory", "99999999999999999999T"]), "--max-memory", "out of range")


def case_int_flag_overflow(tmp):
    refused(["inspect", "--module", "eca", "--shape", "1,99999999999999999999,4,4"], "--shape", "too large")


def case_feature_spec_overflow(tmp):
    png = os.path.join(IMAGES, "rubberwhale1.png")
    refused(["run", "--module", "eca", "--input", png, "--features", "random:channels=99999999999999999999",
             "--save", os.path.join(tmp, "o.safetensors")], "is not an integer")


# --- memory that follows the work ---------------------------------------------------------

def png_zeros(path, w, h):
    """A valid RGB PNG of w x h black pixels, written row by row (the raw data would be GBs)."""
    c = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * w)
    with open(path, "wb") as f:
        def chunk(kind, data):
            f.write(struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data)))
        f.write(b"\x89PNG\r\n\x1a\n")
        chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        parts = [c.compress(row) for _ in range(h)]
        parts.append(c.flush())
        chunk(b"IDAT", b"".join(parts))
        chunk(b"IEND", b"")
    return path


def case_image_decode_over_budget(tmp):
    # 8192 x 8192 RGB: ~1.8 GiB to decode and convert; the budget is 512 MiB.
    png = png_zeros(os.path.join(tmp, "big.png"), 8192, 8192)
    refused(["run", "--module", "eca", "--input", png, "--features", "rgb:stride=64", "--max-memory", "512M",
             "--save", os.path.join(tmp, "o.safetensors")], "big.png", "to decode", "memory budget")


def case_module_weights_over_budget(tmp):
    # aff on two 1x24000x2x2 inputs: 3 MiB of activations but 2.15 GiB of weights (four 1x1
    # convs of 24000 x 6000). The budget counts them before the module is built (it peaked at
    # 2.9 GB and exited 0).
    x = npy(os.path.join(tmp, "x.npy"), (1, 24000, 2, 2))
    out = os.path.join(tmp, "o.safetensors")
    refused(["run", "--module", "aff", "--input", x, "--input", x, "--max-memory", "1G", "--save", out],
            "aff: this run needs about 2.15 GiB", "weights 2.15 GiB", "memory budget is 1.00 GiB", "--max-memory")
    if os.path.exists(out):
        fail("a refused run wrote its output")


def case_inspect_module_keys_without_building(tmp):
    # The weights report for aff at C = 24000 from its keys and shapes alone (building the
    # module took 2.4 GB). The file holds one key of the module and one it lacks.
    import torch
    w = os.path.join(tmp, "w.pt")
    torch.save({"local_att.0.bias": torch.zeros(6000), "extra": torch.zeros(2)}, w)
    with tempfile.TemporaryFile() as out:
        code, err, rss = run_measured(["inspect", w, "--module", "aff", "--shape", "1,24000,2,2", "--json"],
                                      stdout=out)
        out.seek(0)
        text = out.read().decode()
    print(f"inspect: exit {code}, peak RSS {rss >> 20} MiB: {err.strip()[:300]}")
    if code != 0:
        fail(f"exit status {code}: {err.strip()}")
    report = json.loads(text)["weights"]
    if report["matched"] != ["local_att.0.bias"]:
        fail(f"matched {report['matched']}")
    if "local_att.0.weight [6000, 24000, 1, 1]" not in report["missing"] or len(report["missing"]) != 27:
        fail(f"missing {report['missing']}")
    if report["unexpected"] != ["extra [2]"]:
        fail(f"unexpected {report['unexpected']}")
    if rss > RSS_BOUND:
        fail(f"peak RSS {rss >> 20} MiB is above the bound of {RSS_BOUND >> 20} MiB")


def checkpoint_with_pickle(path, pickle_bytes):
    """A torch.save zip archive of one two-float tensor whose data.pkl is replaced."""
    import torch
    import zipfile
    base = path + ".base"
    torch.save({"a": torch.zeros(2)}, base)
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, pickle_bytes if info.filename.endswith("data.pkl") else src.read(info))
    return path


PID = b"(X\x07\x00\x00\x00storageq\x03ctorch\nFloatStorage\nq\x04X\x01\x00\x00\x000q\x05X\x03\x00\x00\x00cpuq\x06K\x02tq\x07"


def case_pickle_twelve_million_nones(tmp):
    # 12 MB: a list of 12 million None. Refused at the object cap, naming the count.
    import pickle
    w = checkpoint_with_pickle(os.path.join(tmp, "n.pt"), pickle.dumps([None] * 12_000_000, protocol=2))
    refused(["inspect", w], "n.pt", "more than 262144 objects for 0 tensor storages")


def case_pickle_storage_reference_flood(tmp):
    # 12 MB: the one storage referenced again and again through the memo, 250 Nones after
    # each; every reference used to raise the object cap (2.7 GB, exit 0).
    unit = b"h\x07Q" + b"N" * 250
    body = b"\x80\x02]" + PID + b"0(" + unit * (12_000_000 // len(unit)) + b"e."
    w = checkpoint_with_pickle(os.path.join(tmp, "s.pt"), body)
    refused(["inspect", w], "s.pt", "more than 262400 objects for 1 tensor storages")


def case_pickle_memo_and_stack_floods(tmp):
    # 12 MB of opcodes that make no object: MEMOIZE (830 MB, exit 0), DUP (810 MB), BINGET
    # (490 MB). Refused at the bytes held.
    for name, body in [("memoize", b"\x80\x02]" + b"\x94" * 12_000_000 + b"."),
                       ("dup", b"\x80\x02](N" + b"2" * 12_000_000 + b"e."),
                       ("binget", b"\x80\x02](Nq\x00" + b"h\x00" * 6_000_000 + b"e.")]:
        w = checkpoint_with_pickle(os.path.join(tmp, name + ".pt"), body)
        refused(["inspect", w], name + ".pt", "the pickle would hold more than", "for 0 tensor storages")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    fn = globals().get("case_" + sys.argv[1])
    if fn is None:
        fail(f"no case {sys.argv[1]}")
    with tempfile.TemporaryDirectory() as tmp:
        fn(tmp)
    print("ok")


if __name__ == "__main__":
    main()
