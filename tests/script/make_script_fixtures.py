"""Fixtures of the TorchScript / capture tests, made with Debian's python3-torch.

    /usr/bin/python3 tests/script/make_script_fixtures.py OUT_DIR

Writes into OUT_DIR (the build tree) and a manifest.json describing every case:

* builtin/<id>.traced.pt and, where torch.jit.script takes the class, <id>.scripted.pt:
  the project's reference classes (tests/reference/fl_reference.py) with random weights;
  <id>.state.safetensors (their state_dict) and <id>.inputs.safetensors (input.0, ...).
  The manifest maps each built-in probe to the attention point that must equal it.
* modified/<case>.pt: user-modified modules (CBAM with another MLP, ECA with avg+max and a
  spatial attention), with <case>.expected.safetensors holding Python's own values of the
  points, recorded by forward hooks.
* net.pt: a small network (conv stem, CBAM at two depths, head) on a 3x64x64 image, with
  hooked values of the four points.
* unsafe_*.pt: modules using print / warnings / __setstate__; control_flow.pt: points
  inside `if` blocks; bad_*.pt: corrupt, truncated and non-TorchScript files.
* aff_match.flcap / aff_modified.flcap: captures (python/fusionlens_capture.py) of a
  standard and a modified AFF inside a small network.
"""

import json
import os
import struct
import sys
import warnings
import zipfile

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "python"))

import fl_reference as R  # noqa: E402
import fusionlens_capture as FC  # noqa: E402

warnings.filterwarnings("ignore")  # tracer warnings about Python values in the reference


def traceable(ref):
    """The reference class returns (outputs, probes); the traced one returns the outputs."""
    cls = type(ref)

    class Traced(cls):
        def forward(self, *xs):
            outs = cls.forward(self, *xs)[0]
            return outs[0] if len(outs) == 1 else outs

    Traced.__name__ = cls.__name__
    ref.__class__ = Traced
    return ref


# id -> (params, input shape, {probe: [point name, kind, permute-or-None]})
BUILTIN = {
    "ms-cam": ({}, (2, 32, 8, 8), {"weight": ["sigmoid", "gate", None]}),
    "aff": ({}, (2, 32, 8, 8), {"weight": ["sigmoid", "gate", None]}),
    "iaff": ({}, (2, 32, 8, 8), {"weight": ["sigmoid", "gate", None],
                                 "weight2": ["sigmoid_1", "gate", None]}),
    "cafm": ({"hidden": "16"}, (2, 32, 8, 8), {"spatial1": ["softmax_2", "spatial_map", None],
                                              "spatial2": ["softmax_3", "spatial_map", None]}),
    "gated-fusion": ({}, (2, 16, 8, 8), {"gate": ["sigmoid", "gate", None]}),
    "msf": ({}, (2, 16, 8, 8), {"scale_weights": ["softmax", "scale_weights", None]}),
    "mfe": ({}, (1, 16, 16, 16), {"scale_weights": ["softmax", "scale_weights", None]}),
    "osra": ({}, (2, 32, 8, 8), {"attention": ["softmax", "attention_matrix", None]}),
    "cbam-joint": ({}, (2, 32, 7, 7), {"channel_weight": ["sigmoid", "channel_weights", None],
                                       "spatial_weight": ["sigmoid_1", "spatial_map", None]}),
    "cmgm": ({}, (1, 64, 8, 8), {"attention": ["softmax", "attention_matrix", None]}),
    "eca": ({}, (2, 32, 8, 8), {"channel_weight": ["sigmoid", "channel_weights", None]}),
    "spatial-attention": ({}, (2, 32, 8, 8), {"spatial_weight": ["sigmoid", "spatial_map", None]}),
    "se": ({}, (2, 32, 8, 8), {"channel_weight": ["fc.3.sigmoid", "channel_weights", None]}),
    "cbam": ({}, (2, 32, 8, 8), {"channel_weight": ["ChannelGate.sigmoid", "channel_weights", None],
                                 "spatial_weight": ["SpatialGate.sigmoid", "spatial_map", None]}),
}


def inputs_for(module_id, shape, gen):
    n = len(R.INPUT_NAMES[module_id])
    return [torch.randn(shape, generator=gen) for _ in range(n)]


def save_inputs(path, xs):
    FC.write_safetensors(path, [("input.%d" % i, x) for i, x in enumerate(xs)])


def make_builtin(out, manifest):
    d = os.path.join(out, "builtin")
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(13)
    cases = []
    for mid, (params, shape, probes) in BUILTIN.items():
        ref = R.randomize_(R.build(mid, params, [shape] * len(R.INPUT_NAMES[mid])), gen)
        xs = inputs_for(mid, shape, gen)
        FC.write_safetensors(os.path.join(d, mid + ".state.safetensors"), list(ref.state_dict().items()))
        save_inputs(os.path.join(d, mid + ".inputs.safetensors"), xs)
        files = {}
        try:
            scripted = torch.jit.script(ref)
            scripted.save(os.path.join(d, mid + ".scripted.pt"))
            files["scripted"] = mid + ".scripted.pt"
        except Exception as e:  # recorded: the test requires the ones that do script
            files["scripted_error"] = str(e).splitlines()[0][:200]
        traced = torch.jit.trace(traceable(ref), tuple(xs), check_trace=False)
        traced.save(os.path.join(d, mid + ".traced.pt"))
        files["traced"] = mid + ".traced.pt"
        cases.append({"id": mid, "params": params, "shape": list(shape), "probes": probes,
                      "files": files})
    manifest["builtin"] = cases


# ----------------------------------------------------------------- user-modified modules

class ChannelGateMLP(nn.Module):
    """CBAM's channel gate with a different MLP: two hidden layers and GELU."""

    def __init__(self, c, r=4):
        super().__init__()
        h = c // r
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(c, h), nn.GELU(), nn.Linear(h, h),
                                 nn.ReLU(), nn.Linear(h, c))
        self.act = nn.Sigmoid()

    def forward(self, x):
        return self.act(self.mlp(x.mean(dim=(2, 3), keepdim=True)) +
                        self.mlp(x.amax(dim=(2, 3), keepdim=True)))


class SpatialGateAct(nn.Module):
    def __init__(self, k=5):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2)
        self.act = nn.Sigmoid()

    def forward(self, x):
        d = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return self.act(self.conv(d))


class MyCBAM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ChannelGate = ChannelGateMLP(c)
        self.SpatialGate = SpatialGateAct()

    def forward(self, x):
        b, c = x.shape[0], x.shape[1]
        x = x * self.ChannelGate(x).reshape(b, c, 1, 1)
        return x * self.SpatialGate(x)


class ECAWeights(nn.Module):
    """The seed's ECA weights: sigmoid(conv(GMP) + conv(GAP)) as [B,1,C]."""

    def __init__(self, k=5):
        super().__init__()
        self.conv = nn.Conv1d(1, 1, k, padding=k // 2)

    def forward(self, x):
        b, c = x.shape[0], x.shape[1]
        a = x.mean(dim=(2, 3)).reshape(b, 1, c)
        m = x.amax(dim=(2, 3)).reshape(b, 1, c)
        return torch.sigmoid(self.conv(m) + self.conv(a))


class SAWeights(nn.Module):
    def __init__(self, k=7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, padding=k // 2)

    def forward(self, x):
        d = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(d))


class ECASA(nn.Module):
    def __init__(self):
        super().__init__()
        self.eca = ECAWeights()
        self.sa = SAWeights()

    def forward(self, x):
        b, c = x.shape[0], x.shape[1]
        x = x * self.eca(x).reshape(b, c, 1, 1)
        return x * self.sa(x)


def hooked(model, names, xs):
    """Runs model(*xs) and returns {point: value} from forward hooks on named modules."""
    got = {}
    handles = []
    for point, modname in names.items():
        mod = dict(model.named_modules())[modname]
        handles.append(mod.register_forward_hook(
            lambda m, i, o, point=point: got.__setitem__(point, o.detach().clone())))
    with torch.no_grad():
        out = model(*xs)
    for h in handles:
        h.remove()
    return out, got


def make_modified(out, manifest):
    d = os.path.join(out, "modified")
    os.makedirs(d, exist_ok=True)
    gen = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    cases = []
    specs = [
        ("cbam_mlp", MyCBAM(32), (2, 32, 8, 8),
         {"ChannelGate.act.sigmoid": ("ChannelGate.act", "channel_weights"),
          "SpatialGate.act.sigmoid": ("SpatialGate.act", "spatial_map")}),
        ("eca_sa", ECASA(), (2, 32, 8, 8),
         {"eca.sigmoid": ("eca", "channel_weights"), "sa.sigmoid": ("sa", "spatial_map")}),
    ]
    for name, model, shape, points in specs:
        model = R.randomize_(model.eval(), gen)
        xs = [torch.randn(shape, generator=gen)]
        y, got = hooked(model, {p: m for p, (m, _) in points.items()}, xs)
        torch.jit.trace(model, tuple(xs), check_trace=False).save(os.path.join(d, name + ".traced.pt"))
        torch.jit.script(model).save(os.path.join(d, name + ".scripted.pt"))
        save_inputs(os.path.join(d, name + ".inputs.safetensors"), xs)
        FC.write_safetensors(os.path.join(d, name + ".expected.safetensors"),
                             [("output", y)] + [(p, v) for p, v in got.items()])
        cases.append({"name": name, "kinds": {p: k for p, (_, k) in points.items()}})
    manifest["modified"] = cases


# ------------------------------------------------------------------------- a network

class NetCBAM(R.CBAM):
    def forward(self, x):
        return R.CBAM.forward(self, x)[0][0]


class Stage(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.cbam = NetCBAM(cout, reduction=4)

    def forward(self, x):
        return self.cbam(torch.relu(self.bn(self.conv(x))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.layers = nn.Sequential(Stage(16, 16, 1), Stage(16, 32, 2))
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        f = self.layers(torch.relu(self.stem(x)))
        return self.head(f.mean(dim=(2, 3)))


def make_net(out, manifest):
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    net = R.randomize_(Net().eval(), gen)
    x = torch.rand((1, 3, 64, 64), generator=gen)
    points = {
        "layers.0.cbam.ChannelGate.sigmoid": ("layers.0.cbam.ChannelGate", "channel_weights", 0),
        "layers.0.cbam.SpatialGate.sigmoid": ("layers.0.cbam.SpatialGate", "spatial_map", 2),
        "layers.1.cbam.ChannelGate.sigmoid": ("layers.1.cbam.ChannelGate", "channel_weights", 0),
        "layers.1.cbam.SpatialGate.sigmoid": ("layers.1.cbam.SpatialGate", "spatial_map", 4),
        # submodule outputs (on request)
        "layers.0.cbam": ("layers.0.cbam", "feature_map", 2),
        "layers.1": ("layers.1", "feature_map", 4),
        "stem": ("stem", "feature_map", 2),
    }
    y, got = hooked(net, {p: m for p, (m, _, _) in points.items()}, [x])
    torch.jit.trace(net, (x,), check_trace=False).save(os.path.join(out, "net.pt"))
    save_inputs(os.path.join(out, "net.inputs.safetensors"), [x])
    FC.write_safetensors(os.path.join(out, "net.expected.safetensors"),
                         [("output", y)] + [(p, v) for p, v in got.items()])
    manifest["net"] = {p: {"kind": k, "stride": s} for p, (_, k, s) in points.items()}


# ------------------------------------------------------- unsafe, control flow, damaged files

class Printer(nn.Module):
    def forward(self, x):
        print("a TorchScript file can print")
        return torch.sigmoid(x)


class HasPrinter(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Printer()

    def forward(self, x):
        return self.block(x) * 2


class Warner(nn.Module):
    def forward(self, x):
        warnings.warn("a TorchScript file can warn")
        return torch.sigmoid(x)


class WithState(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = 2.0

    def forward(self, x):
        return torch.sigmoid(x) * self.w

    @torch.jit.export
    def __getstate__(self):
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[float, bool]):
        self.w = state[0]
        self.training = state[1]


class ControlFlow(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        w = torch.sigmoid(self.conv(x))
        if bool(x.mean() > 0):
            a = torch.softmax(x, dim=1)
        else:
            a = torch.sigmoid(x)
        return x * w + a


def make_safety(out, manifest):
    torch.jit.script(HasPrinter()).save(os.path.join(out, "unsafe_print.pt"))
    torch.jit.script(Warner()).save(os.path.join(out, "unsafe_warn.pt"))
    torch.jit.script(WithState()).save(os.path.join(out, "unsafe_setstate.pt"))
    torch.jit.script(ControlFlow().eval()).save(os.path.join(out, "control_flow.pt"))
    # damaged files, from a good one
    good = open(os.path.join(out, "builtin", "cbam.traced.pt"), "rb").read()
    open(os.path.join(out, "bad_truncated.pt"), "wb").write(good[: len(good) // 2])
    flipped = bytearray(good)
    with zipfile.ZipFile(os.path.join(out, "builtin", "cbam.traced.pt")) as z:
        info = [i for i in z.infolist() if i.filename.endswith(".py")][0]
    # the middle of that code entry's (compressed) data: it no longer inflates to its CRC
    name_len, extra_len = struct.unpack("<HH", good[info.header_offset + 26:info.header_offset + 30])
    at = info.header_offset + 30 + name_len + extra_len + info.compress_size // 2
    flipped[at] ^= 0x55
    open(os.path.join(out, "bad_flipped.pt"), "wb").write(bytes(flipped))
    open(os.path.join(out, "bad_garbage.pt"), "wb").write(bytes(range(256)) * 8)
    open(os.path.join(out, "bad_empty.pt"), "wb").write(b"")
    torch.save(nn.Linear(2, 2).state_dict(), os.path.join(out, "bad_checkpoint.pt"))
    manifest["unsafe"] = {"unsafe_print.pt": ["prim::Print", "block"],
                          "unsafe_warn.pt": ["aten::warn", ""],
                          "unsafe_setstate.pt": ["__setstate__", ""]}
    manifest["bad"] = ["bad_truncated.pt", "bad_flipped.pt", "bad_garbage.pt", "bad_empty.pt",
                       "bad_checkpoint.pt"]


# ------------------------------------------------------------------------------ captures

class AFF(R.AFF):
    """The standard AFF (open-aff layout), returning its output tensor."""

    def forward(self, x, residual):
        return R.AFF.forward(self, x, residual)[0][0]


class ModifiedAFF(AFF):
    """Same weights and keys, but the global branch pools by max: not the standard AFF."""

    def forward(self, x, residual):
        xa = x + residual
        g = xa.amax(dim=(2, 3), keepdim=True)
        for i in range(1, len(self.global_att)):
            g = self.global_att[i](g)
        w = torch.sigmoid(self.local_att(xa) + g)
        return x * w + residual * (1 - w)


ModifiedAFF.__name__ = "AFF"  # the user's class is called AFF too


class FuseNet(nn.Module):
    def __init__(self, aff):
        super().__init__()
        self.a = nn.Conv2d(3, 32, 3, stride=2, padding=1)
        self.b = nn.Conv2d(3, 32, 5, stride=2, padding=2)
        self.fuse = aff

    def forward(self, x):
        return self.fuse(torch.relu(self.a(x)), torch.relu(self.b(x))).mean()


def make_captures(out, manifest):
    for name, cls in (("aff_match", AFF), ("aff_modified", ModifiedAFF)):
        gen = torch.Generator().manual_seed(11)
        torch.manual_seed(11)
        net = R.randomize_(FuseNet(cls(32, r=4)).eval(), gen)
        x = torch.rand((1, 3, 32, 32), generator=gen)
        FC.capture(net, x, module=net.fuse, path=os.path.join(out, name + ".flcap"), image=x[0])
    manifest["captures"] = {"aff_match.flcap": "matches", "aff_modified.flcap": "differs"}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    manifest = {"torch": torch.__version__}
    make_builtin(out, manifest)
    make_modified(out, manifest)
    make_net(out, manifest)
    make_safety(out, manifest)
    make_captures(out, manifest)
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print("script fixtures written to", out)


if __name__ == "__main__":
    main()
