#!/usr/bin/python3
"""Trains the demo networks FusionLens ships in resources/demo/ (issue 14).

Small Fashion-MNIST classifiers, one per module: a conv stem, the module (the project's own
reference class from tests/reference/fl_reference.py, so its state_dict keys are the ones
FusionLens loads), and a head.

* single-input modules (cbam, cbam-joint, se, eca, spatial-attention, ms-cam, safm, mfe,
  osra): stem (a stride-2 3x3 conv to 16 channels, a separable conv to 32: 28x28 -> 14x14),
  the module on the 14x14 grid (mfe, osra: max-pooled to 7x7, they are heavier), a linear
  head on the 7x7 grid.
* fusion modules (aff, iaff, cafm, gated-fusion, msf, cmgm): a shared stride-2 conv, then
  branches that see the image differently (a local separable 3x3 conv and a dilated (3)
  context one; msf: four dilations 1-4), fused by the module, then the head. cmgm (faithful
  mode needs C = 64, 8 heads) fuses on the 7x7 grid to keep its attention small.
* cbam-2depth: CBAM at two depths of one plain stack: the single-input stem, `att1` on the
  14x14 grid (stride 2), a stride-2 separable conv, `att2` on the 7x7 grid (stride 4), the
  head. Files: NAME.pt, NAME.weights.safetensors (att1.* and att2.*), a capture per depth
  (NAME.att1.flcap, NAME.att2.flcap); no stem.

Per network NAME it writes into --out (default resources/demo/):
  NAME.pt            TorchScript trace of the whole network: [B,1,28,28] in [0,1] -> logits
  NAME.stem.pt       TorchScript trace of the stem alone, for `--features torchscript:...`:
                     [1,3,H,W] RGB in [0,1] (grey garments: the mean of RGB) -> the module's
                     input(s) (a tuple for fusion networks)
  NAME.weights.safetensors   the module's state_dict (what FusionLens's built-in loads)
  NAME.flcap         a capture of the module on 2 test images (osra, cmgm: 1) (python/fusionlens_capture.py)
and manifest.json (all networks: module, parameters, accuracy on the 10,000 test images and
on the first 1,000, training time, seed, torch version, SHA-256 of every file).

Reproducible: fixed seeds, torch.use_deterministic_algorithms(True), CPU, a fixed number of
threads, no data augmentation, the data read in file order from Debian's
dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, idx files, gzip).

Time budget: 1 epoch (469 steps of 128) per network, one thread: 20 s to 3.5 min per network,
about 18 minutes of training for all 15 (about 25 minutes of wall time with evaluation and
export),
measured at nice 10 on a 2-core machine shared with compilers; the manifest records each
network's training time (cbam-2depth: about a minute). Use --only NAME,... to retrain some
(the others' files stay as they are; manifest.json keeps their entries), --epochs /
--train-limit for quick development runs (not shipped).

Run:  /usr/bin/python3 scripts/train_demo.py [--out resources/demo] [--only cbam,aff]
      /usr/bin/python3 scripts/train_demo.py --only cbam-2depth   # the two-depth network alone
"""

import argparse
import gzip
import hashlib
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "python"))
import fl_reference as R  # noqa: E402  the project's own module classes
import fusionlens_capture as FC  # noqa: E402

DATA_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot"]
SEED = 14
CAPTURE_IMAGES = 2  # osra and cmgm: 1 (their attention probe is large)

SINGLE = ["cbam", "cbam-joint", "se", "eca", "spatial-attention", "ms-cam", "safm", "mfe", "osra"]
FUSION = ["aff", "iaff", "cafm", "gated-fusion", "msf", "cmgm"]
# Training order: the demo's network first, then the cheaper ones (a run cut short ships those).
ORDER = ["cbam", "se", "eca", "spatial-attention", "ms-cam", "safm", "cbam-joint", "aff",
         "gated-fusion", "osra", "iaff", "cafm", "msf", "mfe", "cmgm"]
assert sorted(ORDER) == sorted(SINGLE + FUSION)
# Networks with a module at several depths: id -> the module. Trained after the ones above
# (and alone with --only cbam-2depth), so adding one changed none of the files above.
DEPTHS = {"cbam-2depth": "cbam"}
ALL = ORDER + list(DEPTHS)


# ------------------------------------------------------------------------------------ data

def read_idx(path):
    """An idx file (gzip) as a uint8 tensor: magic 0x0000080N, N big-endian int32 sizes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte idx file" % path)
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = torch.frombuffer(bytearray(raw[4 + 4 * ndim:]), dtype=torch.uint8)
    return data.reshape(*dims)


def load_split(split, data_dir=DATA_DIR):
    """(images [N,1,28,28] float in [0,1], labels [N] int64); split 'train' or 't10k'."""
    x = read_idx(os.path.join(data_dir, "%s-images-idx3-ubyte.gz" % split))
    y = read_idx(os.path.join(data_dir, "%s-labels-idx1-ubyte.gz" % split))
    return x.unsqueeze(1).float() / 255.0, y.long()


# -------------------------------------------------------------------------------- networks

def conv_bn(cin, cout, dilation=1, stride=1, groups=1, k=3):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k // 2), dilation=dilation,
                                   groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


def sep_conv(cin, cout, dilation=1):
    """A depthwise 3x3 (dilated) then a pointwise conv: the stem's second layer, cheap enough
    to train every network on the full training set on 2 shared cores."""
    return nn.Sequential(conv_bn(cin, cin, dilation=dilation, groups=cin), conv_bn(cin, cout, k=1))


class Head(nn.Module):
    """Pools the module's output to 7x7 (14x14 grids) and classifies it with one linear
    layer: cheap to train on 2 shared cores, and it keeps where things are."""

    def __init__(self, cin, grid14=True):
        super().__init__()
        self.grid14 = grid14
        self.fc = nn.Linear(cin * 49, 10)

    def forward(self, x):
        if self.grid14:
            x = F.max_pool2d(x, 2)
        return self.fc(x.flatten(1))


# The grid each module runs on: 14x14 (stride 2 on the garment), 7x7 for the heavy ones
# (OSRA at 14x14 spends ~10 s per step in its many tiny per-head matmuls on one CPU core).
GRID7 = {"mfe", "cmgm", "osra"}


class SingleStem(nn.Module):
    """[B,1,28,28] -> [B,32,14,14] (or 7x7 for the modules of GRID7)."""

    def __init__(self, grid7=False):
        super().__init__()
        self.grid7 = grid7
        self.conv1 = conv_bn(1, 16, stride=2)
        self.conv2 = sep_conv(16, 32)

    def forward(self, x):
        f = self.conv2(self.conv1(x))
        return F.max_pool2d(f, 2) if self.grid7 else f


class SingleNet(nn.Module):
    def __init__(self, module_id):
        super().__init__()
        g = 7 if module_id in GRID7 else 14
        self.stem = SingleStem(grid7=(g == 7))
        self.att = R.build(module_id, {}, [(1, 32, g, g)]).train()
        self.head = Head(32, grid14=(g == 14))

    def forward(self, x):
        outs, _ = self.att(self.stem(x))
        f = outs[0] if len(outs) == 1 else sum(outs)   # cbam-joint: x*cw + x*sw
        return self.head(f)


class FusionStem(nn.Module):
    """A shared stride-2 conv, then branches that see the image differently: local (a 3x3
    separable conv) and context (dilation 3); msf: four branches of dilation 1, 2, 3, 4.
    Returns a tuple of [B,C,G,G]."""

    def __init__(self, n_branches, channels, grid7):
        super().__init__()
        self.conv1 = conv_bn(1, 16, stride=2)
        dil = [1, 3] if n_branches == 2 else [1, 2, 3, 4]
        self.grid7 = grid7
        self.branches = nn.ModuleList([sep_conv(16, channels, dilation=d) for d in dil])

    def forward(self, x):
        f = self.conv1(x)                       # 14x14
        outs = []
        for b in self.branches:
            o = b(f)
            if self.grid7:
                o = F.max_pool2d(o, 2)          # 7x7
            outs.append(o)
        return tuple(outs)


class FusionNet(nn.Module):
    def __init__(self, module_id):
        super().__init__()
        n_in = len(R.MODULES[module_id].inputs)
        C = 64 if module_id == "cmgm" else 32   # cmgm's faithful mode: C = 64, 8 heads
        G = 7 if module_id in GRID7 else 14
        self.stem = FusionStem(n_in, C, grid7=(G == 7))
        self.att = R.build(module_id, {}, [(1, C, G, G)] * n_in).train()
        self.head = Head(C, grid14=(G == 14))
        self.module_id = module_id

    def forward(self, x):
        outs, _ = self.att(*self.stem(x))
        # cafm returns both re-weighted inputs: their sum; cmgm's second output is its cam
        f = outs[0] + outs[1] if self.module_id == "cafm" else outs[0]
        return self.head(f)


class RGBStem(nn.Module):
    """The stem as a feature backbone: FusionLens feeds [1,3,H,W] RGB in [0,1]."""

    def __init__(self, stem):
        super().__init__()
        self.stem = stem

    def forward(self, x):
        return self.stem(x.mean(dim=1, keepdim=True))


class TwoDepthNet(nn.Module):
    """The module at two depths of a plain stack: the single-input stem (28x28 -> 14x14),
    `att1` on the 14x14 grid (stride 2 on the garment), a stride-2 separable conv, `att2` on
    the 7x7 grid (stride 4), the linear head. Its attention points are att1.* and att2.*."""

    def __init__(self, module_id):
        super().__init__()
        self.stem = SingleStem()
        self.att1 = R.build(module_id, {}, [(1, 32, 14, 14)]).train()
        self.down = nn.Sequential(conv_bn(32, 32, stride=2, groups=32), conv_bn(32, 32, k=1))
        self.att2 = R.build(module_id, {}, [(1, 32, 7, 7)]).train()
        self.head = Head(32, grid14=False)

    def forward(self, x):
        f = self.att1(self.stem(x))[0][0]
        return self.head(self.att2(self.down(f))[0][0])


def make_net(net_id):
    if net_id in DEPTHS:
        return TwoDepthNet(DEPTHS[net_id])
    return SingleNet(net_id) if net_id in SINGLE else FusionNet(net_id)


# -------------------------------------------------------------------------------- training

def evaluate(net, x, y, batch=500):
    net.eval()
    pred = []
    with torch.no_grad():
        for i in range(0, len(x), batch):
            pred.append(net(x[i:i + batch]).argmax(dim=1))
    pred = torch.cat(pred)
    return pred, (pred == y).float().mean().item()


def train(module_id, data, epochs, train_limit, batch=128, lr=3e-3):
    torch.manual_seed(SEED)
    net = make_net(module_id)
    xtr, ytr = data["train"]
    if train_limit:
        xtr, ytr = xtr[:train_limit], ytr[:train_limit]
    g = torch.Generator().manual_seed(SEED)
    steps = epochs * ((len(xtr) + batch - 1) // batch)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    warm = max(1, steps // 10)   # linear warm-up, then cosine decay to 0

    def factor(step):
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    t0 = time.time()
    for ep in range(epochs):
        net.train()
        perm = torch.randperm(len(xtr), generator=g)
        total, n = 0.0, 0
        for i in range(0, len(xtr), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            n += len(idx)
        print("  %s epoch %d/%d: loss %.4f (%.0f s)" % (module_id, ep + 1, epochs, total / n,
                                                        time.time() - t0), flush=True)
    return net.eval(), time.time() - t0


# -------------------------------------------------------------------------------- export

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_network(name, net, data, out):
    xte, _ = data["t10k"]
    with torch.no_grad():
        traced = torch.jit.trace(net, xte[:2], check_trace=False)
        # the trace must not have frozen the batch size: check it on another batch
        ref, got = net(xte[:37]), traced(xte[:37])
        if (ref - got).abs().max().item() > 1e-4:
            raise RuntimeError("%s: the trace differs from the network" % name)
    traced.save(os.path.join(out, name + ".pt"))
    return name + ".pt"


def export_depths(name, net, data, out):
    """A network with the module at two depths: the whole network, both modules' state_dicts
    in one file (keys prefixed att1. and att2.: `--weights FILE --prefix att1.`), and a
    capture of each depth's module."""
    xte, _ = data["t10k"]
    files = {"network": export_network(name, net, data, out)}
    files["weights"] = name + ".weights.safetensors"
    tensors = [(p + "." + k, v) for p in ("att1", "att2") for k, v in getattr(net, p).state_dict().items()]
    FC.write_safetensors(os.path.join(out, files["weights"]), tensors,
                         {"module": DEPTHS[name], "source": "scripts/train_demo.py"})
    for p in ("att1", "att2"):
        files["capture_" + p] = "%s.%s.flcap" % (name, p)
        FC.capture(net, xte[:CAPTURE_IMAGES], module=getattr(net, p), path=os.path.join(out, files["capture_" + p]),
                   image=xte[0])
    return files


def export(module_id, net, data, out):
    xte, yte = data["t10k"]
    files = {}
    name = module_id
    example = xte[:2]
    files["network"] = export_network(name, net, data, out)

    stem = RGBStem(net.stem).eval()
    with torch.no_grad():
        rgb = example.expand(-1, 3, -1, -1).contiguous()
        tstem = torch.jit.trace(stem, rgb[:1], check_trace=False)
    files["stem"] = name + ".stem.pt"
    tstem.save(os.path.join(out, files["stem"]))

    files["weights"] = name + ".weights.safetensors"
    FC.write_safetensors(os.path.join(out, files["weights"]),
                         list(net.att.state_dict().items()),
                         {"module": module_id, "source": "scripts/train_demo.py"})

    files["capture"] = name + ".flcap"
    n_cap = 1 if module_id in ("osra", "cmgm") else CAPTURE_IMAGES
    FC.capture(net, xte[:n_cap], module=net.att, path=os.path.join(out, files["capture"]),
               image=xte[0])
    return files


GARMENTS = ["Ankle boot", "Pullover", "Trouser", "Shirt", "Sneaker", "Bag"]


def write_garments(out, data):
    """The first test image of a few classes as 28x28 grey PNGs, INDEX-CLASS.png (the GUI's
    examples; white garment on black, as in the data set)."""
    from PIL import Image
    xte, yte = data["t10k"]
    os.makedirs(out, exist_ok=True)
    names = []
    for cls in GARMENTS:
        i = int((yte == CLASSES.index(cls)).nonzero()[0])
        name = "%d-%s.png" % (i, cls.lower().replace(" ", "_"))
        pix = (xte[i, 0] * 255).round().to(torch.uint8)
        Image.frombytes("L", (28, 28), bytes(pix.flatten().tolist())).save(os.path.join(out, name))
        names.append(name)
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "resources", "demo"))
    ap.add_argument("--only", default="", help="comma-separated network ids: module ids and cbam-2depth (default: all)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=0,
                    help="train on the first N images only (development runs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=DATA_DIR)
    ap.add_argument("--garments", metavar="DIR",
                    help="only write the example garments (PNG) into DIR, e.g. resources/images/garments")
    args = ap.parse_args()
    if args.garments:
        data = {"t10k": load_split("t10k", args.data)}
        print("\n".join(write_garments(args.garments, data)))
        return

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(args.threads)
    ids = [m for m in ALL if not args.only or m in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - set(ALL)
    if unknown:
        ap.error("unknown network id(s): %s (known: %s)" % (", ".join(sorted(unknown)), ", ".join(ALL)))
    os.makedirs(args.out, exist_ok=True)
    data = {"train": load_split("train", args.data), "t10k": load_split("t10k", args.data)}
    xte, yte = data["t10k"]

    manifest_path = os.path.join(args.out, "manifest.json")
    manifest = {"networks": {}}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    manifest.update({
        "format": "fusionlens-demo-networks", "format_version": 1,
        "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist, MIT licence)",
        "classes": CLASSES,
        "input": "[B,1,28,28] float32, pixel / 255 (the network); [1,3,H,W] RGB in [0,1] (the stem)",
        "script": "scripts/train_demo.py",
    })
    t_all = time.time()
    for module_id in ids:
        print("training %s" % module_id, flush=True)
        net, seconds = train(module_id, data, args.epochs, args.train_limit)
        pred, acc = evaluate(net, xte, yte)
        acc1000 = (pred[:1000] == yte[:1000]).float().mean().item()
        if module_id in DEPTHS:
            files = export_depths(module_id, net, data, args.out)
            module = DEPTHS[module_id]
            where = {"depths": 2, "module_paths": ["att1", "att2"], "strides": [2, 4]}
        else:
            files = export(module_id, net, data, args.out)
            module = module_id
            where = {"module_path": "att"}
        entry = {
            "module": module,
            "kind": "fusion" if module in FUSION else "single",
            "params": R.full_params(module, {}),
        }
        entry.update(where)
        entry.update({
            "module_inputs": len(R.MODULES[module].inputs),
            "accuracy": round(acc * 100, 2),
            "accuracy_first_1000": round(acc1000 * 100, 2),
            "epochs": args.epochs,
            "train_images": args.train_limit or len(data["train"][0]),
            "training_seconds": round(seconds, 1),
            "seed": SEED,
            "threads": args.threads,
            "torch_version": torch.__version__,
            "files": files,
            "sha256": {k: sha256(os.path.join(args.out, v)) for k, v in files.items()},
        })
        manifest["networks"][module_id] = entry
        with open(manifest_path + ".tmp", "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=False)
            f.write("\n")
        os.replace(manifest_path + ".tmp", manifest_path)
        print("  %s: test accuracy %.2f%% (first 1,000: %.2f%%), %.0f s" % (
            module_id, acc * 100, acc1000 * 100, seconds), flush=True)
    print("all done in %.0f s" % (time.time() - t_all), flush=True)


if __name__ == "__main__":
    main()
