"""Independent Python reference implementations of the FusionLens modules.

Written from the maths in docs/spec ``modules.md`` (sections 1-10) and the module table in
``architecture.md``; it is the ground truth the C++ (LibTorch) modules are checked against
(tolerance 1e-5).  Every class:

* has a state_dict whose keys, shapes and order are identical to the seed / official classes
  (Sequential indices included, so parameter-less ReLU / pooling / Identity placeholders sit in
  the Sequentials where the originals have them);
* is used in eval mode only;
* returns ``(outputs, probes)`` from ``forward``: ``outputs`` a tuple of NCHW float32 tensors,
  ``probes`` a dict ``name -> tensor`` with the names of architecture.md.

``build(module_id, params, input_shapes)`` makes one from CLI-style string parameters.

Every module is one entry of ``MODULES`` at the end of this file: its id, inputs, number of
outputs, probes, parameters (kind and default string, as ``fusionlens-cli run --set`` takes
them), how to build the class, and its parity cases.  Adding a module is a class and one entry
(docs/contributing.md); the C++ registry, the parity cases and the CLI tests read it from here.

Run with Debian's interpreter: ``/usr/bin/python3`` (torch 1.13).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _parse(kind, text):
    if not isinstance(text, str):  # allow python values too
        if kind == "intlist":
            return [int(v) for v in text]
        return {"int": int, "float": float, "bool": bool, "str": str}[kind](text)
    t = text.strip()
    if kind == "int":
        return int(t)
    if kind == "float":
        return float(t)
    if kind == "bool":
        low = t.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError("not a boolean: %r" % text)
    if kind == "intlist":
        return [int(v) for v in t.replace(" ", "").split(",") if v != ""]
    return t


def full_params(module_id, params=None):
    """All parameters of ``module_id`` as strings, defaults filled in (manifest form)."""
    spec = MODULES[module_id].params
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec))
    if unknown:
        raise ValueError("%s: unknown parameter(s) %s" % (module_id, ", ".join(unknown)))
    return {k: str(params.get(k, d)) for k, (_, d) in spec.items()}


def parsed_params(module_id, params=None):
    spec = MODULES[module_id].params
    full = full_params(module_id, params)
    return {k: _parse(spec[k][0], v) for k, v in full.items()}


def _qk_scale(qk_scale, head_dim):
    # 0 (the CLI default) means "not given": head_dim ** -0.5, like the seeds' `qk_scale or ...`.
    return qk_scale if qk_scale else head_dim ** -0.5


# --------------------------------------------------------------------------------------------
# 2. MS-CAM, AFF, iAFF
# --------------------------------------------------------------------------------------------

def _local_att(C, inter):
    # indices: 0 conv, 1 BN, 2 ReLU, 3 conv, 4 BN
    return nn.Sequential(nn.Conv2d(C, inter, 1), nn.BatchNorm2d(inter), nn.ReLU(),
                         nn.Conv2d(inter, C, 1), nn.BatchNorm2d(C))


def _global_att(C, inter):
    # indices: 0 GAP, 1 conv, 2 BN, 3 ReLU, 4 conv, 5 BN
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(C, inter, 1), nn.BatchNorm2d(inter),
                         nn.ReLU(), nn.Conv2d(inter, C, 1), nn.BatchNorm2d(C))


def _check_inter(C, r):
    if r < 1 or C // r < 1:
        raise ValueError("C // r must be >= 1 (C=%d, r=%d)" % (C, r))
    return C // r


class MSCAM(nn.Module):
    """out = x * sigmoid(L(x) + G(x))."""

    def __init__(self, channels, r=4):
        super().__init__()
        inter = _check_inter(channels, r)
        self.local_att = _local_att(channels, inter)
        self.global_att = _global_att(channels, inter)

    def forward(self, x):
        xl = self.local_att(x)          # (B,C,H,W) logits
        xg = self.global_att(x)         # (B,C,1,1) logits
        wei = torch.sigmoid(xl + xg)
        out = x * wei
        return (out,), {"weight": wei, "local": xl, "global": xg.flatten(1)}


class AFF(nn.Module):
    """out = scale * (x*w + residual*(1-w)), w = sigmoid(L(x+res) + G(x+res))."""

    def __init__(self, channels, r=4, scale=1.0):
        super().__init__()
        inter = _check_inter(channels, r)
        self.scale = float(scale)
        self.local_att = _local_att(channels, inter)
        self.global_att = _global_att(channels, inter)

    def forward(self, x, residual):
        xa = x + residual
        wei = torch.sigmoid(self.local_att(xa) + self.global_att(xa))
        out = x * wei + residual * (1 - wei)
        if self.scale != 1.0:
            out = self.scale * out
        return (out,), {"weight": wei}


class IAFF(nn.Module):
    """Two-stage AFF; stage 2 uses global_att (seed/open-aff bug) unless use_global_att2."""

    def __init__(self, channels, r=4, use_global_att2=False):
        super().__init__()
        inter = _check_inter(channels, r)
        self.use_global_att2 = bool(use_global_att2)
        self.local_att = _local_att(channels, inter)
        self.global_att = _global_att(channels, inter)
        self.local_att2 = _local_att(channels, inter)
        self.global_att2 = _global_att(channels, inter)

    def forward(self, x, residual):
        xa = x + residual
        wei = torch.sigmoid(self.local_att(xa) + self.global_att(xa))
        xi = x * wei + residual * (1 - wei)
        g2 = self.global_att2 if self.use_global_att2 else self.global_att
        wei2 = torch.sigmoid(self.local_att2(xi) + g2(xi))
        out = x * wei2 + residual * (1 - wei2)
        return (out,), {"weight": wei, "weight2": wei2}


# --------------------------------------------------------------------------------------------
# 1. CAFM
# --------------------------------------------------------------------------------------------

class CAFM(nn.Module):
    """Cross-attention fusion (AMGCFN). Outputs f*(1+s) in (B,C,H,W) layout, or with
    legacy_layout the seed's own: o.squeeze(0).transpose(0, 1) of (B,C,N)."""

    def __init__(self, channels, hidden=64, legacy_layout=False):
        super().__init__()
        C, Hd = channels, hidden
        self.legacy_layout = bool(legacy_layout)
        # registration order = official order
        self.conv1_spatial = nn.Conv2d(2, 1, 3, stride=1, padding=1)
        self.conv2_spatial = nn.Conv2d(1, 1, 3, stride=1, padding=1)
        self.avg1 = nn.Conv2d(C, Hd, 1)
        self.avg2 = nn.Conv2d(C, Hd, 1)
        self.max1 = nn.Conv2d(C, Hd, 1)
        self.max2 = nn.Conv2d(C, Hd, 1)
        self.avg11 = nn.Conv2d(Hd, C, 1)
        self.avg22 = nn.Conv2d(Hd, C, 1)
        self.max11 = nn.Conv2d(Hd, C, 1)
        self.max22 = nn.Conv2d(Hd, C, 1)

    @staticmethod
    def _channel_logits(fr, a_in, a_out, m_in, m_out):
        B, C, _ = fr.shape
        avg = fr.mean(dim=-1).reshape(B, C, 1, 1)
        mx = fr.amax(dim=-1).reshape(B, C, 1, 1)
        a = a_out(F.relu(a_in(avg))) + m_out(F.relu(m_in(mx)))
        return a.reshape(B, C, 1)

    def _spatial(self, A, B, C, H, W):
        A4 = A.reshape(B, C, H, W)
        desc = torch.cat([A4.mean(dim=1, keepdim=True), A4.amax(dim=1, keepdim=True)], dim=1)
        s = self.conv2_spatial(F.relu(self.conv1_spatial(desc)))
        return torch.softmax(s.reshape(B, 1, H * W), dim=-1)

    def forward(self, f1, f2):
        if f1.shape != f2.shape:
            raise ValueError("cafm: f1 and f2 must have the same shape")
        B, C, H, W = f1.shape
        f1r = f1.reshape(B, C, H * W)
        f2r = f2.reshape(B, C, H * W)
        a1 = self._channel_logits(f1r, self.avg1, self.avg11, self.max1, self.max11)
        a2 = self._channel_logits(f2r, self.avg2, self.avg22, self.max2, self.max22)
        cross = torch.matmul(a1, a2.transpose(1, 2))                      # (B,C,C) rank 1
        A1 = torch.matmul(torch.softmax(cross, dim=-1), f1r)
        A2 = torch.matmul(torch.softmax(cross.transpose(1, 2), dim=-1), f2r)
        s1 = self._spatial(A1, B, C, H, W)                                # (B,1,N)
        s2 = self._spatial(A2, B, C, H, W)
        o1 = f1r * s1 + f1r                                               # (B,C,N)
        o2 = f2r * s2 + f2r
        if self.legacy_layout:   # the seed's return: (N,C) for B == 1, (C,B,N) for B > 1
            o1, o2 = o1.squeeze(0).transpose(0, 1), o2.squeeze(0).transpose(0, 1)
        else:
            o1, o2 = o1.reshape(B, C, H, W), o2.reshape(B, C, H, W)
        return (o1, o2), {"cross": cross,
                          "spatial1": s1.reshape(B, 1, H, W),
                          "spatial2": s2.reshape(B, 1, H, W)}


# --------------------------------------------------------------------------------------------
# 3. gatedFusion (NCHW adapter around the channels-last seed)
# --------------------------------------------------------------------------------------------

class GatedFusion(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc1 = nn.Linear(dim, dim, bias=True)
        self.fc2 = nn.Linear(dim, dim, bias=True)

    def forward(self, x1, x2):
        if x1.shape != x2.shape:
            raise ValueError("gated-fusion: x1 and x2 must have the same shape")
        h1 = x1.permute(0, 2, 3, 1)
        h2 = x2.permute(0, 2, 3, 1)
        z = torch.sigmoid(self.fc1(h1) + self.fc2(h2))
        out = z * h1 + (1 - z) * h2
        return ((out.permute(0, 3, 1, 2).contiguous(),),
                {"gate": z.permute(0, 3, 1, 2).contiguous()})


class _GmanConv2d(nn.Module):
    """GMAN-PyTorch `conv2d_` with a 1x1 kernel ('VALID'): channels-last (B,T,N,D) in and out;
    permute(0,3,2,1), conv, batch_norm, optional ReLU, permute back."""

    def __init__(self, D, use_bias, relu):
        super().__init__()
        self.relu = relu
        self.conv = nn.Conv2d(D, D, [1, 1], stride=[1, 1], padding=0, bias=use_bias)
        self.batch_norm = nn.BatchNorm2d(D, momentum=0.1)

    def forward(self, x):
        x = x.permute(0, 3, 2, 1)
        x = self.batch_norm(self.conv(x))
        if self.relu:
            x = F.relu_(x)
        return x.permute(0, 3, 2, 1)


class _GmanFC(nn.Module):
    def __init__(self, D, relus, use_bias=True):
        super().__init__()
        self.convs = nn.ModuleList([_GmanConv2d(D, use_bias, r) for r in relus])

    def forward(self, x):
        for conv in self.convs:
            x = conv(x)
        return x


class GatedFusionGMAN(nn.Module):
    """GMAN's original gatedFusion (VincLee8188/GMAN-PyTorch), run on the channels-last view
    of NCHW inputs: HS = x1, HT = x2."""

    def __init__(self, D):
        super().__init__()
        self.FC_xs = _GmanFC(D, [False], use_bias=False)
        self.FC_xt = _GmanFC(D, [False], use_bias=True)
        self.FC_h = _GmanFC(D, [True, False], use_bias=True)

    def forward(self, x1, x2):
        if x1.shape != x2.shape:
            raise ValueError("gated-fusion: x1 and x2 must have the same shape")
        HS = x1.permute(0, 2, 3, 1)
        HT = x2.permute(0, 2, 3, 1)
        z = torch.sigmoid(torch.add(self.FC_xs(HS), self.FC_xt(HT)))
        H = torch.add(torch.mul(z, HS), torch.mul(1 - z, HT))
        H = self.FC_h(H)
        return ((H.permute(0, 3, 1, 2).contiguous(),),
                {"gate": z.permute(0, 3, 1, 2).contiguous()})


# --------------------------------------------------------------------------------------------
# 4. MSFblock / MFEblock
# --------------------------------------------------------------------------------------------

class _SEConv(nn.Module):
    """`oneConv` holder: SEk.conv = Sequential(...)."""

    def __init__(self, C, variant):
        super().__init__()
        if variant == "seed":        # first oneConv definition: 1x1 conv, no bias
            self.conv = nn.Sequential(nn.Conv2d(C, C, 1, bias=False))
        elif variant == "shisrcnet":  # second definition (what official MFEblock really uses)
            self.conv = nn.Sequential(nn.Conv2d(C, C, 1, bias=True), nn.BatchNorm2d(C), nn.ReLU())
        else:
            raise ValueError("se_variant must be 'seed' or 'shisrcnet', got %r" % variant)

    def forward(self, x):
        return self.conv(x)


def _project(C):
    return nn.Sequential(nn.Conv2d(C, C, 1, bias=False), nn.BatchNorm2d(C), nn.ReLU())


def _selective_fuse(ses, feats):
    """w = softmax_over_scales(sigmoid(SE_i(GAP(f_i)))); returns (sum_i w_i f_i, w (B,C,S))."""
    g = [se(f.mean(dim=(2, 3), keepdim=True)) for se, f in zip(ses, feats)]   # (B,C,1,1) each
    w = torch.softmax(torch.sigmoid(torch.cat(g, dim=2)), dim=2)            # (B,C,S,1)
    fused = None
    for i, f in enumerate(feats):
        term = w[:, :, i:i + 1, :] * f
        fused = term if fused is None else fused + term
    return fused, w.squeeze(-1)


class MSF(nn.Module):
    def __init__(self, channels, se_variant="seed"):
        super().__init__()
        C = channels
        self.project = _project(C)
        self.SE1 = _SEConv(C, se_variant)
        self.SE2 = _SEConv(C, se_variant)
        self.SE3 = _SEConv(C, se_variant)
        self.SE4 = _SEConv(C, se_variant)

    def forward(self, x0, x1, x2, x3):
        fused, w = _selective_fuse([self.SE1, self.SE2, self.SE3, self.SE4], [x0, x1, x2, x3])
        return (self.project(fused),), {"scale_weights": w}


def _aspp(C, rate):
    return nn.Sequential(nn.Conv2d(C, C, 3, padding=rate, dilation=rate, bias=False),
                         nn.BatchNorm2d(C), nn.ReLU())


class MFE(nn.Module):
    def __init__(self, channels, atrous_rates=(2, 4, 8), se_variant="seed"):
        super().__init__()
        rates = list(atrous_rates)
        if len(rates) != 3 or min(rates) < 1:
            raise ValueError("atrous_rates must hold exactly 3 positive rates, got %r" % (rates,))
        C = channels
        self.layer1 = _aspp(C, 1)
        self.layer2 = _aspp(C, rates[0])
        self.layer3 = _aspp(C, rates[1])
        self.layer4 = _aspp(C, rates[2])
        self.project = _project(C)
        self.SE1 = _SEConv(C, se_variant)
        self.SE2 = _SEConv(C, se_variant)
        self.SE3 = _SEConv(C, se_variant)
        self.SE4 = _SEConv(C, se_variant)

    def forward(self, x):
        y0 = self.layer1(x)
        y1 = self.layer2(y0 + x)
        y2 = self.layer3(y1 + x)
        y3 = self.layer4(y2 + x)
        fused, w = _selective_fuse([self.SE1, self.SE2, self.SE3, self.SE4], [y0, y1, y2, y3])
        return (self.project(fused + x),), {"scale_weights": w}


# --------------------------------------------------------------------------------------------
# 5. SAFM
# --------------------------------------------------------------------------------------------

class SAFM(nn.Module):
    def __init__(self, dim, n_levels=4):
        super().__init__()
        if n_levels < 1 or dim % n_levels != 0:
            raise ValueError("safm: C (%d) must be divisible by n_levels (%d)" % (dim, n_levels))
        self.n_levels = n_levels
        c = dim // n_levels
        self.mfr = nn.ModuleList([nn.Conv2d(c, c, 3, 1, 1, groups=c) for _ in range(n_levels)])
        self.aggr = nn.Conv2d(dim, dim, 1, 1, 0)

    def forward(self, x):
        B, C, H, W = x.shape
        need = 2 ** (self.n_levels - 1)
        if H < need or W < need:
            raise ValueError("safm: H and W must be >= %d" % need)
        c = C // self.n_levels
        parts = []
        for i in range(self.n_levels):
            xi = x[:, i * c:(i + 1) * c]
            if i == 0:
                s = self.mfr[0](xi)
            else:
                s = F.adaptive_max_pool2d(xi, (H // 2 ** i, W // 2 ** i))
                s = self.mfr[i](s)
                s = F.interpolate(s, size=(H, W), mode="nearest")
            parts.append(s)
        m = F.gelu(self.aggr(torch.cat(parts, dim=1)))
        return (m * x,), {"modulation": m}


# --------------------------------------------------------------------------------------------
# 6. OSRA
# --------------------------------------------------------------------------------------------

class _ConvModule(nn.Module):
    """mmcv ConvModule naming: .conv, .bn (+ activation without parameters)."""

    def __init__(self, C, k, stride, padding, act):
        super().__init__()
        self.conv = nn.Conv2d(C, C, k, stride=stride, padding=padding, groups=C, bias=False)
        self.bn = nn.BatchNorm2d(C)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return self.act(x) if self.act is not None else x


class OSRA(nn.Module):
    def __init__(self, dim, num_heads=8, sr_ratio=2, qk_scale=0.0, variant="seed",
                 pos_enc_grid=None):
        super().__init__()
        if num_heads < 1 or dim % num_heads != 0:
            raise ValueError("osra: C (%d) must be divisible by num_heads (%d)" % (dim, num_heads))
        if sr_ratio < 1:
            raise ValueError("osra: sr_ratio must be >= 1")
        if variant not in ("seed", "transxnet"):
            raise ValueError("osra: variant must be 'seed' or 'transxnet'")
        self.num_heads = num_heads
        self.scale = _qk_scale(qk_scale, dim // num_heads)
        self.q = nn.Conv2d(dim, dim, 1)
        self.kv = nn.Conv2d(dim, dim * 2, 1)
        k, s, p = sr_ratio + 3, sr_ratio, (sr_ratio + 3) // 2
        if sr_ratio == 1:
            self.sr = nn.Identity()
        elif variant == "seed":
            # 0 dwconv, 1 BN, 2 ReLU, 3 dw 1x1, 4 BN
            self.sr = nn.Sequential(
                nn.Conv2d(dim, dim, k, stride=s, padding=p, groups=dim, bias=False),
                nn.BatchNorm2d(dim), nn.ReLU(),
                nn.Conv2d(dim, dim, 1, groups=dim, bias=False), nn.BatchNorm2d(dim))
        else:
            self.sr = nn.Sequential(_ConvModule(dim, k, s, p, nn.GELU()),
                                    _ConvModule(dim, 1, 1, 0, None))
        self.local_conv = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        # TransXNet keeps this per stage, outside Attention, and passes it to forward:
        # zeros(1, heads, H*W, ceil(H/sr)*ceil(W/sr)) for the grid of a 224x224 input.
        self.relative_pos_enc = None
        if pos_enc_grid is not None:
            Hr, Wr = pos_enc_grid
            nk = math.ceil(Hr / sr_ratio) * math.ceil(Wr / sr_ratio)
            self.relative_pos_enc = nn.Parameter(torch.zeros(1, num_heads, Hr * Wr, nk))

    def forward(self, x):
        B, C, H, W = x.shape
        h = self.num_heads
        d = C // h
        q = self.q(x).reshape(B, h, d, H * W).transpose(-1, -2)          # (B,h,N,d)
        kv = self.sr(x)
        kv = self.local_conv(kv) + kv                                    # (B,C,H',W')
        k, v = torch.chunk(self.kv(kv), 2, dim=1)
        k = k.reshape(B, h, d, -1)                                       # (B,h,d,N')
        v = v.reshape(B, h, d, -1).transpose(-1, -2)                     # (B,h,N',d)
        attn = torch.matmul(q, k) * self.scale                           # (B,h,N,N')
        rpe = self.relative_pos_enc
        if rpe is not None:   # TransXNet's Attention.forward(x, relative_pos_enc)
            if attn.shape[2:] != rpe.shape[2:]:
                rpe = F.interpolate(rpe, size=attn.shape[2:], mode="bicubic", align_corners=False)
            attn = attn + rpe
        attn = torch.softmax(attn, dim=-1)
        out = torch.matmul(attn, v).transpose(-1, -2).reshape(B, C, H, W)
        return (out,), {"attention": attn}


# --------------------------------------------------------------------------------------------
# 7. CBAM variant with a joint MLP (seed 002)
# --------------------------------------------------------------------------------------------

class _JointChannelAttention(nn.Module):
    """Returns logits se(max) + se(avg), (B,C,1,1)."""

    def __init__(self, C, reduction):
        super().__init__()
        hid = _check_inter(C, reduction)
        self.se = nn.Sequential(nn.Conv2d(C, hid, 1, bias=False), nn.ReLU(),
                                nn.Conv2d(hid, C, 1, bias=False))

    def forward(self, x):
        mx = x.amax(dim=(2, 3), keepdim=True)
        av = x.mean(dim=(2, 3), keepdim=True)
        return self.se(mx) + self.se(av)


class _SpatialLogits(nn.Module):
    """conv(cat[max_c, mean_c]), bias, padding k//2; logits (B,1,H,W)."""

    def __init__(self, kernel_size):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError("kernel_size must be odd")
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x):
        desc = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return self.conv(desc)


class CBAMJoint(nn.Module):
    def __init__(self, channel, reduction=8, kernel_size=7, HW=49):
        super().__init__()
        self.HW = HW
        self.ChannelAttention = _JointChannelAttention(channel, reduction)
        self.SpatialAttention = _SpatialLogits(kernel_size)
        joint = channel + HW
        hid = channel // reduction
        self.MLP = nn.Sequential(nn.Conv2d(joint, hid, 1, bias=False), nn.ReLU(),
                                 nn.Conv2d(hid, joint, 1, bias=False))

    def forward(self, x):
        B, C, H, W = x.shape
        if H * W != self.HW:
            raise ValueError("cbam-joint: H*W (%d) must equal HW (%d)" % (H * W, self.HW))
        ch = self.ChannelAttention(x).reshape(B, C, 1, 1)
        sp = self.SpatialAttention(x).reshape(B, H * W, 1, 1)
        cs = self.MLP(torch.cat([ch, sp], dim=1))                        # (B,C+HW,1,1)
        cw = torch.sigmoid(cs[:, :C]).reshape(B, C, 1, 1)
        sw = torch.sigmoid(cs[:, C:]).reshape(B, 1, H, W)
        return (x * cw, x * sw), {"channel_weight": cw.reshape(B, C), "spatial_weight": sw}


# --------------------------------------------------------------------------------------------
# 8. CMGM (PGNet Grafting)
# --------------------------------------------------------------------------------------------

class CMGM(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=True, qk_scale=0.0, mode="faithful"):
        super().__init__()
        if mode not in ("faithful", "generalized"):
            raise ValueError("cmgm: mode must be 'faithful' or 'generalized'")
        if mode == "faithful" and (dim != 64 or num_heads != 8):
            raise ValueError("cmgm faithful mode needs C == 64 and num_heads == 8")
        if num_heads < 1 or dim % num_heads != 0:
            raise ValueError("cmgm: C must be divisible by num_heads")
        self.num_heads = num_heads
        self.scale = _qk_scale(qk_scale, dim // num_heads)
        h = num_heads
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.qv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.conv = nn.Conv2d(h, h, 3, stride=1, padding=1)
        self.lnx = nn.LayerNorm(dim)
        self.lny = nn.LayerNorm(dim)
        self.bn = nn.BatchNorm2d(h)
        self.conv2 = nn.Sequential(nn.Conv2d(dim, dim, 3, stride=1, padding=1), nn.BatchNorm2d(dim),
                                   nn.ReLU(), nn.Conv2d(dim, dim, 3, stride=1, padding=1),
                                   nn.BatchNorm2d(dim), nn.ReLU())

    def forward(self, x, y):
        if x.shape != y.shape:
            raise ValueError("cmgm: x and y must have the same shape")
        B, C, H, W = x.shape
        N, h = H * W, self.num_heads
        d = C // h
        xt = x.reshape(B, C, N).permute(0, 2, 1)                        # (B,N,C) = sc1
        yt = y.reshape(B, C, N).permute(0, 2, 1)
        xn = self.lnx(xt)
        yn = self.lny(yt)
        k = self.k(yn).reshape(B, N, h, d).permute(0, 2, 1, 3)           # (B,h,N,d) from y
        qv = self.qv(xn).reshape(B, N, 2, h, d).permute(2, 0, 3, 1, 4)
        q, v = qv[0], qv[1]                                              # from x
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        o = torch.matmul(attn, v).transpose(1, 2).reshape(B, N, C)
        o = self.proj(o) + xt
        o = o.permute(0, 2, 1).reshape(B, C, H, W)
        o = self.conv2(o) + o
        cam = F.relu(self.bn(self.conv(attn + attn.transpose(-2, -1))))
        return (o, cam), {"attention": attn}


# --------------------------------------------------------------------------------------------
# 9./10. ECA and SpatialAttention (seed 004). padding "seed" is the seed's fixed 3 (only
# kernel 7 keeps the size), "same" is (k-1)//2 == k//2 for odd k.
# --------------------------------------------------------------------------------------------

def eca_adaptive_kernel(C, gamma=2, b=1):
    """ECA-Net: k = |log2(C)/gamma + b/gamma| rounded to the next odd integer."""
    t = int(abs((math.log2(C) + b) / gamma))
    return t if t % 2 else t + 1


class ECA(nn.Module):
    """variant 'seed': sigma(conv(GMP) + conv(GAP)), one conv with bias; 'official':
    BangguWu/ECANet eca_layer, sigma(conv(GAP)) with a bias-free conv."""

    def __init__(self, channels, kernel_size=7, padding="seed", adaptive_kernel=False,
                 variant="seed"):
        super().__init__()
        if variant not in ("seed", "official"):
            raise ValueError("eca: variant must be 'seed' or 'official'")
        k = eca_adaptive_kernel(channels) if adaptive_kernel else kernel_size
        if padding == "seed":
            pad = 3
        elif padding == "same":
            pad = (k - 1) // 2
        else:
            raise ValueError("eca: padding must be 'seed' or 'same'")
        if k < 1 or channels + 2 * pad - k + 1 != channels:
            raise ValueError("eca: kernel %d with padding %d changes the channel count" % (k, pad))
        self.variant = variant
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=pad, bias=(variant == "seed"))

    def forward(self, x):
        B, C = x.shape[:2]
        a = x.mean(dim=(2, 3)).reshape(B, 1, C)
        if self.variant == "official":
            y = torch.sigmoid(self.conv(a)).reshape(B, C)
        else:
            m = x.amax(dim=(2, 3)).reshape(B, 1, C)
            y = torch.sigmoid(self.conv(m) + self.conv(a)).reshape(B, C)
        return (x * y.reshape(B, C, 1, 1),), {"channel_weight": y}


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size=7, padding="seed"):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError("spatial-attention: kernel_size must be odd")
        if padding == "seed":
            pad = 3
        elif padding == "same":
            pad = kernel_size // 2
        else:
            raise ValueError("spatial-attention: padding must be 'seed' or 'same'")
        if 2 * pad - kernel_size + 1 != 0:
            raise ValueError("spatial-attention: kernel %d with padding %d changes H and W"
                             % (kernel_size, pad))
        self.conv = nn.Conv2d(2, 1, kernel_size=kernel_size, padding=pad)

    def forward(self, x):
        desc = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        s = torch.sigmoid(self.conv(desc))
        return (x * s,), {"spatial_weight": s}


# --------------------------------------------------------------------------------------------
# Standard SE (External-Attention-pytorch SEAttention layout)
# --------------------------------------------------------------------------------------------

class SE(nn.Module):
    def __init__(self, channel, reduction=16):
        super().__init__()
        hid = _check_inter(channel, reduction)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, hid, bias=False), nn.ReLU(),
                                nn.Linear(hid, channel, bias=False), nn.Sigmoid())

    def forward(self, x):
        B, C = x.shape[:2]
        s = self.fc(x.mean(dim=(2, 3)))
        return (x * s.reshape(B, C, 1, 1),), {"channel_weight": s}


# --------------------------------------------------------------------------------------------
# Standard CBAM (Jongchan/attention-module key layout)
# --------------------------------------------------------------------------------------------

class _ChannelGate(nn.Module):
    def __init__(self, C, reduction):
        super().__init__()
        hid = _check_inter(C, reduction)
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(C, hid), nn.ReLU(), nn.Linear(hid, C))

    def forward(self, x):
        att = self.mlp(x.mean(dim=(2, 3), keepdim=True)) + self.mlp(x.amax(dim=(2, 3), keepdim=True))
        return torch.sigmoid(att)                                        # (B,C)


class _BasicConv(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, k, stride=1, padding=(k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x):
        return self.bn(self.conv(x))                                     # no ReLU


class _SpatialGate(nn.Module):
    def __init__(self, k):
        super().__init__()
        if k < 1 or k % 2 == 0:
            raise ValueError("cbam: kernel_size must be odd")
        self.spatial = _BasicConv(k)

    def forward(self, x):
        desc = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.spatial(desc))                         # (B,1,H,W)


class CBAM(nn.Module):
    def __init__(self, channel, reduction=16, kernel_size=7):
        super().__init__()
        self.ChannelGate = _ChannelGate(channel, reduction)
        self.SpatialGate = _SpatialGate(kernel_size)

    def forward(self, x):
        B, C = x.shape[:2]
        cw = self.ChannelGate(x)
        x1 = x * cw.reshape(B, C, 1, 1)
        sw = self.SpatialGate(x1)
        return (x1 * sw,), {"channel_weight": cw, "spatial_weight": sw}


# --------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------

def build(module_id, params=None, input_shapes=None):
    """Build the reference for ``module_id`` in eval mode.

    params: dict name -> string (CLI form; python values accepted too); missing ones take the
    defaults of the module's table entry.  input_shapes: list of NCHW shapes, one per input (in the order of
    the entry's inputs); channels (and, for cbam-joint, HW) are taken from the first one.
    """
    if module_id not in MODULES:
        raise ValueError("unknown module id %r" % (module_id,))
    p = parsed_params(module_id, params)
    if not input_shapes:
        raise ValueError("input_shapes is required")
    shapes = [tuple(int(v) for v in s) for s in input_shapes]
    names = MODULES[module_id].inputs
    if len(shapes) != len(names):
        raise ValueError("%s takes %d inputs (%s), got %d" % (
            module_id, len(names), ", ".join(names), len(shapes)))
    for s in shapes:
        if len(s) != 4:
            raise ValueError("inputs must be NCHW, got shape %r" % (s,))
        if s != shapes[0]:
            raise ValueError("%s: all inputs must have the same shape" % module_id)
    C, H, W = shapes[0][1], shapes[0][2], shapes[0][3]

    m = MODULES[module_id].make(C, H, W, p)
    return m.eval()


def randomize_(model, generator=None):
    """Randomise every parameter and BatchNorm buffer in place (deterministic given torch's RNG).

    Weights (>=2-D): randn * gain / sqrt(fan_in), gain 1.5, so activations stay O(1) through the
    deep stacks (MFE, CMGM) and the 1e-5 comparison is meaningful; 1-D parameters (biases, BN
    and LayerNorm affine): randn * 0.5; OSRA's relative_pos_enc (a logit bias): randn.  BN: running_mean randn*0.5, running_var U(0.5, 2.0),
    num_batches_tracked a random int.
    """
    with torch.no_grad():
        for name, prm in model.named_parameters():
            if name.endswith("relative_pos_enc"):
                # an additive logit bias: O(1) values so that it visibly shapes the attention
                prm.copy_(torch.randn(prm.shape, generator=generator))
            elif prm.dim() >= 2:
                fan_in = prm[0].numel()
                prm.copy_(torch.randn(prm.shape, generator=generator) * (1.5 / math.sqrt(fan_in)))
            else:
                prm.copy_(torch.randn(prm.shape, generator=generator) * 0.5)
        for mod in model.modules():
            if isinstance(mod, nn.modules.batchnorm._BatchNorm):
                mod.running_mean.copy_(torch.randn(mod.running_mean.shape, generator=generator) * 0.5)
                mod.running_var.copy_(
                    torch.rand(mod.running_var.shape, generator=generator) * 1.5 + 0.5)
                mod.num_batches_tracked.fill_(
                    int(torch.randint(1, 100000, (1,), generator=generator).item()))
    return model


def param_count(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# The module table: one entry per module, in the C++ registry's order.  Parameter kinds: int,
# float, bool, str, intlist; defaults are the strings `fusionlens-cli run --set KEY=VALUE` takes.
# Cases: (B, C, H, W, params overriding the defaults, case-name suffix) for make_cases.py.
# --------------------------------------------------------------------------------------------

class ModuleEntry:
    def __init__(self, module_id, inputs, probes, make, params=None, outputs=1, cases=()):
        self.id = module_id
        self.inputs = list(inputs)
        self.probes = list(probes)
        self.outputs = outputs
        self.params = dict(params or {})
        self.make = make  # (C, H, W, parsed params) -> nn.Module
        self.cases = list(cases)

    def output_names(self):
        return ["output"] if self.outputs == 1 else ["output.%d" % i for i in range(self.outputs)]


def _gated_fusion(C, p):
    if p["variant"] not in ("seed", "gman"):
        raise ValueError("gated-fusion: variant must be 'seed' or 'gman'")
    return GatedFusion(C) if p["variant"] == "seed" else GatedFusionGMAN(C)


def _osra(C, H, W, p):
    grid = None
    if p["relative_pos_enc"]:
        g = p["pos_enc_grid"]
        if len(g) != 2 or (g[0] == 0) != (g[1] == 0):
            raise ValueError("osra: pos_enc_grid must be H,W or 0,0")
        grid = (H, W) if g[0] == 0 else (g[0], g[1])
    return OSRA(C, p["num_heads"], p["sr_ratio"], p["qk_scale"], p["variant"], grid)


_ENTRIES = [
    ModuleEntry(
        "ms-cam", ["x"], ["weight", "local", "global"], params={"r": ("int", "4")},
        make=lambda C, H, W, p: MSCAM(C, p["r"]),
        cases=[(1, 16, 7, 9, {}, ""), (2, 16, 5, 11, {}, ""), (2, 32, 9, 13, {"r": "8"}, "r8")]),
    ModuleEntry(
        "aff", ["x", "residual"], ["weight"], params={"r": ("int", "4"), "scale": ("float", "1")},
        make=lambda C, H, W, p: AFF(C, p["r"], p["scale"]),
        cases=[(1, 16, 7, 9, {}, ""), (2, 16, 5, 11, {}, ""),
               (2, 16, 7, 9, {"scale": "2"}, "scale2"),
               (1, 32, 9, 13, {"r": "8", "scale": "2"}, "r8_scale2")]),
    ModuleEntry(
        "iaff", ["x", "residual"], ["weight", "weight2"],
        params={"r": ("int", "4"), "use_global_att2": ("bool", "false")},
        make=lambda C, H, W, p: IAFF(C, p["r"], p["use_global_att2"]),
        cases=[(1, 16, 7, 9, {}, ""), (2, 16, 5, 11, {}, ""),
               (2, 16, 9, 13, {"use_global_att2": "true"}, "globalatt2"),
               (1, 32, 7, 9, {"r": "8", "use_global_att2": "true"}, "r8_globalatt2")]),
    ModuleEntry(
        "cafm", ["f1", "f2"], ["cross", "spatial1", "spatial2"], outputs=2,
        params={"hidden": ("int", "64"), "legacy_layout": ("bool", "false")},
        make=lambda C, H, W, p: CAFM(C, p["hidden"], p["legacy_layout"]),
        cases=[(1, 16, 7, 9, {}, ""), (2, 16, 5, 11, {}, ""), (2, 8, 9, 13, {"hidden": "16"}, "hidden16"),
               (1, 32, 1, 1, {}, ""), (1, 16, 7, 9, {"legacy_layout": "true"}, "legacy"),
               (2, 16, 5, 11, {"legacy_layout": "true"}, "legacy")]),
    ModuleEntry(
        "gated-fusion", ["x1", "x2"], ["gate"], params={"variant": ("str", "seed")},
        make=lambda C, H, W, p: _gated_fusion(C, p),
        cases=[(1, 16, 7, 9, {}, ""), (2, 16, 5, 11, {}, ""), (2, 32, 9, 13, {}, ""),
               (1, 16, 7, 9, {"variant": "gman"}, "gman"), (2, 32, 5, 11, {"variant": "gman"}, "gman")]),
    ModuleEntry(
        "msf", ["x0", "x1", "x2", "x3"], ["scale_weights"],
        make=lambda C, H, W, p: MSF(C),
        cases=[(1, 16, 7, 9, {}, ""), (2, 16, 5, 11, {}, ""), (2, 32, 9, 13, {}, "")]),
    ModuleEntry(
        "mfe", ["x"], ["scale_weights"],
        params={"atrous_rates": ("intlist", "2,4,8"), "se_variant": ("str", "seed")},
        make=lambda C, H, W, p: MFE(C, p["atrous_rates"], p["se_variant"]),
        cases=[(1, 16, 7, 9, {}, ""), (2, 16, 5, 11, {}, ""),
               (2, 16, 9, 13, {"se_variant": "shisrcnet"}, "shisrcnet"),
               (1, 8, 7, 9, {"atrous_rates": "1,3,5", "se_variant": "shisrcnet"}, "rates1_3_5_shisrcnet"),
               (2, 8, 5, 11, {"atrous_rates": "1,2,3"}, "rates1_2_3")]),
    ModuleEntry(
        "safm", ["x"], ["modulation"], params={"n_levels": ("int", "4")},
        make=lambda C, H, W, p: SAFM(C, p["n_levels"]),
        cases=[(1, 16, 9, 13, {}, ""), (2, 16, 11, 9, {}, ""), (2, 24, 5, 7, {"n_levels": "3"}, "n3"),
               (1, 8, 3, 5, {"n_levels": "2"}, "n2")]),
    ModuleEntry(
        "osra", ["x"], ["attention"],
        params={"num_heads": ("int", "8"), "sr_ratio": ("int", "2"), "qk_scale": ("float", "0"),
                "variant": ("str", "seed"), "relative_pos_enc": ("bool", "false"),
                "pos_enc_grid": ("intlist", "0,0")},
        make=_osra,
        cases=[(1, 32, 7, 9, {}, "sr2"), (2, 32, 5, 11, {"sr_ratio": "1"}, "sr1"),
               (2, 32, 9, 13, {"sr_ratio": "3"}, "sr3"), (1, 32, 9, 11, {"sr_ratio": "4"}, "sr4"),
               (2, 32, 7, 9, {"variant": "transxnet"}, "sr2_transxnet"),
               (1, 32, 9, 13, {"sr_ratio": "3", "variant": "transxnet"}, "sr3_transxnet"),
               (2, 16, 5, 7, {"num_heads": "4", "sr_ratio": "1", "variant": "transxnet"},
                "h4_sr1_transxnet"),
               (1, 16, 7, 9, {"num_heads": "2", "qk_scale": "0.25"}, "h2_sr2_qk0p25"),
               (1, 32, 7, 9, {"relative_pos_enc": "true"}, "sr2_rpe"),
               (2, 32, 9, 13, {"sr_ratio": "3", "variant": "transxnet", "relative_pos_enc": "true",
                               "pos_enc_grid": "8,8"}, "sr3_transxnet_rpe8x8"),
               (2, 16, 5, 7, {"num_heads": "4", "sr_ratio": "1", "relative_pos_enc": "true",
                              "pos_enc_grid": "4,6"}, "h4_sr1_rpe4x6")]),
    ModuleEntry(
        "cbam-joint", ["x"], ["channel_weight", "spatial_weight"], outputs=2,
        params={"reduction": ("int", "8"), "kernel_size": ("int", "7")},
        make=lambda C, H, W, p: CBAMJoint(C, p["reduction"], p["kernel_size"], H * W),
        cases=[(1, 32, 7, 9, {}, ""), (2, 32, 5, 11, {}, ""), (2, 16, 9, 13, {"kernel_size": "3"}, "k3"),
               (1, 32, 7, 7, {"reduction": "4", "kernel_size": "5"}, "r4_k5")]),
    ModuleEntry(
        "cmgm", ["x", "y"], ["attention"], outputs=2,
        params={"num_heads": ("int", "8"), "qk_scale": ("float", "0"), "qkv_bias": ("bool", "true"),
                "mode": ("str", "faithful")},
        make=lambda C, H, W, p: CMGM(C, p["num_heads"], p["qkv_bias"], p["qk_scale"], p["mode"]),
        cases=[(1, 64, 5, 7, {}, "faithful"), (2, 64, 4, 6, {}, "faithful"),
               # N = 99: several of cam's 32-row bands and 32-column blocks, neither a multiple
               (2, 64, 9, 11, {}, "faithful_n99"),
               (2, 64, 5, 7, {"qkv_bias": "false"}, "faithful_noqkvbias"),
               (1, 64, 3, 5, {"qk_scale": "0.5"}, "faithful_qk0p5"),
               (2, 32, 5, 7, {"num_heads": "4", "mode": "generalized"}, "h4_generalized"),
               (1, 16, 3, 5, {"num_heads": "2", "mode": "generalized", "qkv_bias": "false"},
                "h2_generalized_noqkvbias")]),
    ModuleEntry(
        "eca", ["x"], ["channel_weight"],
        params={"kernel_size": ("int", "7"), "padding": ("str", "seed"),
                "adaptive_kernel": ("bool", "false"), "variant": ("str", "seed")},
        make=lambda C, H, W, p: ECA(C, p["kernel_size"], p["padding"], p["adaptive_kernel"],
                                    p["variant"]),
        cases=[(1, 16, 7, 9, {}, "k7"), (2, 32, 5, 11, {"kernel_size": "3", "padding": "same"}, "k3_same"),
               (2, 16, 9, 13, {"kernel_size": "5", "padding": "same"}, "k5_same"),
               (1, 16, 5, 7, {"kernel_size": "7", "padding": "same"}, "k7_same"),
               (2, 256, 5, 7, {"adaptive_kernel": "true", "padding": "same"}, "adaptive_same"),
               (1, 32, 7, 9, {"variant": "official"}, "official_k7"),
               (2, 64, 5, 7, {"variant": "official", "adaptive_kernel": "true", "padding": "same"},
                "official_adaptive_same")]),
    ModuleEntry(
        "spatial-attention", ["x"], ["spatial_weight"],
        params={"kernel_size": ("int", "7"), "padding": ("str", "seed")},
        make=lambda C, H, W, p: SpatialAttention(p["kernel_size"], p["padding"]),
        cases=[(1, 16, 7, 9, {}, "k7"), (2, 16, 5, 11, {"kernel_size": "3", "padding": "same"}, "k3_same"),
               (2, 8, 9, 13, {}, "k7"), (1, 8, 5, 7, {"kernel_size": "5", "padding": "same"}, "k5_same"),
               (2, 8, 7, 9, {"padding": "same"}, "k7_same")]),
    ModuleEntry(
        "se", ["x"], ["channel_weight"], params={"reduction": ("int", "16")},
        make=lambda C, H, W, p: SE(C, p["reduction"]),
        cases=[(1, 32, 7, 9, {}, ""), (2, 32, 5, 11, {}, ""), (2, 16, 9, 13, {"reduction": "4"}, "r4")]),
    ModuleEntry(
        "cbam", ["x"], ["channel_weight", "spatial_weight"],
        params={"reduction": ("int", "16"), "kernel_size": ("int", "7")},
        make=lambda C, H, W, p: CBAM(C, p["reduction"], p["kernel_size"]),
        cases=[(1, 32, 7, 9, {}, ""), (2, 32, 5, 11, {}, ""),
               (2, 16, 9, 13, {"reduction": "4", "kernel_size": "3"}, "r4_k3"),
               (1, 32, 7, 9, {"kernel_size": "5"}, "k5")]),
]

MODULES = {e.id: e for e in _ENTRIES}
assert len(MODULES) == len(_ENTRIES), "duplicate module id in the table"

# Views of the table, for the scripts that read them (make_cases, self_check, bench).
MODULE_IDS = [e.id for e in _ENTRIES]
INPUT_NAMES = {e.id: e.inputs for e in _ENTRIES}
OUTPUT_COUNT = {e.id: e.outputs for e in _ENTRIES}
PROBE_NAMES = {e.id: e.probes for e in _ENTRIES}
PARAM_SPECS = {e.id: e.params for e in _ENTRIES}


def describe():
    """The table as JSON-able data: what the C++ registry must agree with."""
    return [{"id": e.id, "inputs": e.inputs, "outputs": e.output_names(), "probes": e.probes,
             "params": [{"name": k, "kind": kind, "default": d} for k, (kind, d) in e.params.items()]}
            for e in _ENTRIES]


if __name__ == "__main__":
    import json
    import sys
    if sys.argv[1:] == ["--ids"]:
        print(";".join(MODULE_IDS))  # a CMake list
    elif sys.argv[1:] == ["--describe"]:
        json.dump(describe(), sys.stdout, indent=1)
        print()
    else:
        print("usage: fl_reference.py --ids | --describe", file=sys.stderr)
        sys.exit(2)
