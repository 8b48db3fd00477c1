#!/usr/bin/python3
"""Self-check of the Python reference (runs in the test suite; exit non-zero on any failure).

1. parameter counts at C=64 equal modules.md section 11;
2. state_dict keys, shapes, dtypes and order equal modules.md Appendix A (embedded below; if the
   spec file itself is found, via $FL_SPEC_DIR or the usual places, the embedded copy is also
   checked against it), plus the documented variant layouts (mfe shisrcnet, osra transxnet,
   cmgm qkv_bias=false, standard SE / CBAM);
3. hand-checkable facts (AFF scale, iAFF stage 2, CAFM softmax / rank 1, OSRA sizes, ...);
4. make_cases.py is deterministic and check_result.py passes a good result and fails bad ones.

usage: /usr/bin/python3 tests/reference/self_check.py [-v]
"""

import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import traceback

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fl_reference as ref  # noqa: E402

sys.path.insert(0, os.path.join(HERE, os.pardir, os.pardir, "python"))
import fusionlens_capture  # noqa: E402

VERBOSE = "-v" in sys.argv[1:]
torch.set_num_threads(1)

# modules.md Appendix A, verbatim: raw state_dict dump of the seed classes (PyTorch 1.13, C=64).
APPENDIX_A = """
### CAFM(channels=64)  (20 entries, 33309 params)
  conv1_spatial.weight                     (1, 2, 3, 3) float32
  conv1_spatial.bias                       (1,) float32
  conv2_spatial.weight                     (1, 1, 3, 3) float32
  conv2_spatial.bias                       (1,) float32
  avg1.weight                              (64, 64, 1, 1) float32
  avg1.bias                                (64,) float32
  avg2.weight                              (64, 64, 1, 1) float32
  avg2.bias                                (64,) float32
  max1.weight                              (64, 64, 1, 1) float32
  max1.bias                                (64,) float32
  max2.weight                              (64, 64, 1, 1) float32
  max2.bias                                (64,) float32
  avg11.weight                             (64, 64, 1, 1) float32
  avg11.bias                               (64,) float32
  avg22.weight                             (64, 64, 1, 1) float32
  avg22.bias                               (64,) float32
  max11.weight                             (64, 64, 1, 1) float32
  max11.bias                               (64,) float32
  max22.weight                             (64, 64, 1, 1) float32
  max22.bias                               (64,) float32
### MS_CAM(channels=64,r=4)  (28 entries, 4576 params)
  local_att.0.weight                       (16, 64, 1, 1) float32
  local_att.0.bias                         (16,) float32
  local_att.1.weight                       (16,) float32
  local_att.1.bias                         (16,) float32
  local_att.1.running_mean                 (16,) float32
  local_att.1.running_var                  (16,) float32
  local_att.1.num_batches_tracked          () int64
  local_att.3.weight                       (64, 16, 1, 1) float32
  local_att.3.bias                         (64,) float32
  local_att.4.weight                       (64,) float32
  local_att.4.bias                         (64,) float32
  local_att.4.running_mean                 (64,) float32
  local_att.4.running_var                  (64,) float32
  local_att.4.num_batches_tracked          () int64
  global_att.1.weight                      (16, 64, 1, 1) float32
  global_att.1.bias                        (16,) float32
  global_att.2.weight                      (16,) float32
  global_att.2.bias                        (16,) float32
  global_att.2.running_mean                (16,) float32
  global_att.2.running_var                 (16,) float32
  global_att.2.num_batches_tracked         () int64
  global_att.4.weight                      (64, 16, 1, 1) float32
  global_att.4.bias                        (64,) float32
  global_att.5.weight                      (64,) float32
  global_att.5.bias                        (64,) float32
  global_att.5.running_mean                (64,) float32
  global_att.5.running_var                 (64,) float32
  global_att.5.num_batches_tracked         () int64
### AFF(channels=64,r=4)  (28 entries, 4576 params)
  local_att.0.weight                       (16, 64, 1, 1) float32
  local_att.0.bias                         (16,) float32
  local_att.1.weight                       (16,) float32
  local_att.1.bias                         (16,) float32
  local_att.1.running_mean                 (16,) float32
  local_att.1.running_var                  (16,) float32
  local_att.1.num_batches_tracked          () int64
  local_att.3.weight                       (64, 16, 1, 1) float32
  local_att.3.bias                         (64,) float32
  local_att.4.weight                       (64,) float32
  local_att.4.bias                         (64,) float32
  local_att.4.running_mean                 (64,) float32
  local_att.4.running_var                  (64,) float32
  local_att.4.num_batches_tracked          () int64
  global_att.1.weight                      (16, 64, 1, 1) float32
  global_att.1.bias                        (16,) float32
  global_att.2.weight                      (16,) float32
  global_att.2.bias                        (16,) float32
  global_att.2.running_mean                (16,) float32
  global_att.2.running_var                 (16,) float32
  global_att.2.num_batches_tracked         () int64
  global_att.4.weight                      (64, 16, 1, 1) float32
  global_att.4.bias                        (64,) float32
  global_att.5.weight                      (64,) float32
  global_att.5.bias                        (64,) float32
  global_att.5.running_mean                (64,) float32
  global_att.5.running_var                 (64,) float32
  global_att.5.num_batches_tracked         () int64
### iAFF(channels=64,r=4)  (56 entries, 9152 params)
  local_att.0.weight                       (16, 64, 1, 1) float32
  local_att.0.bias                         (16,) float32
  local_att.1.weight                       (16,) float32
  local_att.1.bias                         (16,) float32
  local_att.1.running_mean                 (16,) float32
  local_att.1.running_var                  (16,) float32
  local_att.1.num_batches_tracked          () int64
  local_att.3.weight                       (64, 16, 1, 1) float32
  local_att.3.bias                         (64,) float32
  local_att.4.weight                       (64,) float32
  local_att.4.bias                         (64,) float32
  local_att.4.running_mean                 (64,) float32
  local_att.4.running_var                  (64,) float32
  local_att.4.num_batches_tracked          () int64
  global_att.1.weight                      (16, 64, 1, 1) float32
  global_att.1.bias                        (16,) float32
  global_att.2.weight                      (16,) float32
  global_att.2.bias                        (16,) float32
  global_att.2.running_mean                (16,) float32
  global_att.2.running_var                 (16,) float32
  global_att.2.num_batches_tracked         () int64
  global_att.4.weight                      (64, 16, 1, 1) float32
  global_att.4.bias                        (64,) float32
  global_att.5.weight                      (64,) float32
  global_att.5.bias                        (64,) float32
  global_att.5.running_mean                (64,) float32
  global_att.5.running_var                 (64,) float32
  global_att.5.num_batches_tracked         () int64
  local_att2.0.weight                      (16, 64, 1, 1) float32
  local_att2.0.bias                        (16,) float32
  local_att2.1.weight                      (16,) float32
  local_att2.1.bias                        (16,) float32
  local_att2.1.running_mean                (16,) float32
  local_att2.1.running_var                 (16,) float32
  local_att2.1.num_batches_tracked         () int64
  local_att2.3.weight                      (64, 16, 1, 1) float32
  local_att2.3.bias                        (64,) float32
  local_att2.4.weight                      (64,) float32
  local_att2.4.bias                        (64,) float32
  local_att2.4.running_mean                (64,) float32
  local_att2.4.running_var                 (64,) float32
  local_att2.4.num_batches_tracked         () int64
  global_att2.1.weight                     (16, 64, 1, 1) float32
  global_att2.1.bias                       (16,) float32
  global_att2.2.weight                     (16,) float32
  global_att2.2.bias                       (16,) float32
  global_att2.2.running_mean               (16,) float32
  global_att2.2.running_var                (16,) float32
  global_att2.2.num_batches_tracked        () int64
  global_att2.4.weight                     (64, 16, 1, 1) float32
  global_att2.4.bias                       (64,) float32
  global_att2.5.weight                     (64,) float32
  global_att2.5.bias                       (64,) float32
  global_att2.5.running_mean               (64,) float32
  global_att2.5.running_var                (64,) float32
  global_att2.5.num_batches_tracked        () int64
### gatedFusion(dim=64)  (4 entries, 8320 params)
  fc1.weight                               (64, 64) float32
  fc1.bias                                 (64,) float32
  fc2.weight                               (64, 64) float32
  fc2.bias                                 (64,) float32
### MSFblock(in_channels=64)  (10 entries, 20608 params)
  project.0.weight                         (64, 64, 1, 1) float32
  project.1.weight                         (64,) float32
  project.1.bias                           (64,) float32
  project.1.running_mean                   (64,) float32
  project.1.running_var                    (64,) float32
  project.1.num_batches_tracked            () int64
  SE1.conv.0.weight                        (64, 64, 1, 1) float32
  SE2.conv.0.weight                        (64, 64, 1, 1) float32
  SE3.conv.0.weight                        (64, 64, 1, 1) float32
  SE4.conv.0.weight                        (64, 64, 1, 1) float32
### MFEblock(64,[2,4,8])  (34 entries, 168576 params)
  layer1.0.weight                          (64, 64, 3, 3) float32
  layer1.1.weight                          (64,) float32
  layer1.1.bias                            (64,) float32
  layer1.1.running_mean                    (64,) float32
  layer1.1.running_var                     (64,) float32
  layer1.1.num_batches_tracked             () int64
  layer2.0.weight                          (64, 64, 3, 3) float32
  layer2.1.weight                          (64,) float32
  layer2.1.bias                            (64,) float32
  layer2.1.running_mean                    (64,) float32
  layer2.1.running_var                     (64,) float32
  layer2.1.num_batches_tracked             () int64
  layer3.0.weight                          (64, 64, 3, 3) float32
  layer3.1.weight                          (64,) float32
  layer3.1.bias                            (64,) float32
  layer3.1.running_mean                    (64,) float32
  layer3.1.running_var                     (64,) float32
  layer3.1.num_batches_tracked             () int64
  layer4.0.weight                          (64, 64, 3, 3) float32
  layer4.1.weight                          (64,) float32
  layer4.1.bias                            (64,) float32
  layer4.1.running_mean                    (64,) float32
  layer4.1.running_var                     (64,) float32
  layer4.1.num_batches_tracked             () int64
  project.0.weight                         (64, 64, 1, 1) float32
  project.1.weight                         (64,) float32
  project.1.bias                           (64,) float32
  project.1.running_mean                   (64,) float32
  project.1.running_var                    (64,) float32
  project.1.num_batches_tracked            () int64
  SE1.conv.0.weight                        (64, 64, 1, 1) float32
  SE2.conv.0.weight                        (64, 64, 1, 1) float32
  SE3.conv.0.weight                        (64, 64, 1, 1) float32
  SE4.conv.0.weight                        (64, 64, 1, 1) float32
### SAFM(dim=64,n_levels=4)  (10 entries, 4800 params)
  mfr.0.weight                             (16, 1, 3, 3) float32
  mfr.0.bias                               (16,) float32
  mfr.1.weight                             (16, 1, 3, 3) float32
  mfr.1.bias                               (16,) float32
  mfr.2.weight                             (16, 1, 3, 3) float32
  mfr.2.bias                               (16,) float32
  mfr.3.weight                             (16, 1, 3, 3) float32
  mfr.3.bias                               (16,) float32
  aggr.weight                              (64, 64, 1, 1) float32
  aggr.bias                                (64,) float32
### OSRAttention(dim=64,num_heads=8,sr_ratio=2)  (18 entries, 15040 params)
  q.weight                                 (64, 64, 1, 1) float32
  q.bias                                   (64,) float32
  kv.weight                                (128, 64, 1, 1) float32
  kv.bias                                  (128,) float32
  sr.0.weight                              (64, 1, 5, 5) float32
  sr.1.weight                              (64,) float32
  sr.1.bias                                (64,) float32
  sr.1.running_mean                        (64,) float32
  sr.1.running_var                         (64,) float32
  sr.1.num_batches_tracked                 () int64
  sr.3.weight                              (64, 1, 1, 1) float32
  sr.4.weight                              (64,) float32
  sr.4.bias                                (64,) float32
  sr.4.running_mean                        (64,) float32
  sr.4.running_var                         (64,) float32
  sr.4.num_batches_tracked                 () int64
  local_conv.weight                        (64, 1, 3, 3) float32
  local_conv.bias                          (64,) float32
### OSRAttention(dim=64,num_heads=8,sr_ratio=1)  (6 entries, 13120 params)
  q.weight                                 (64, 64, 1, 1) float32
  q.bias                                   (64,) float32
  kv.weight                                (128, 64, 1, 1) float32
  kv.bias                                  (128,) float32
  local_conv.weight                        (64, 1, 3, 3) float32
  local_conv.bias                          (64,) float32
### ChannelAttention(64,reduction=16)  (2 entries, 512 params)
  se.0.weight                              (4, 64, 1, 1) float32
  se.2.weight                              (64, 4, 1, 1) float32
### SpatialAttention(kernel_size=7) [002]  (2 entries, 99 params)
  conv.weight                              (1, 2, 7, 7) float32
  conv.bias                                (1,) float32
### CBAMBlock(channel=64,reduction=8,kernel_size=7,HW=49)  (6 entries, 2931 params)
  ChannelAttention.se.0.weight             (8, 64, 1, 1) float32
  ChannelAttention.se.2.weight             (64, 8, 1, 1) float32
  SpatialAttention.conv.weight             (1, 2, 7, 7) float32
  SpatialAttention.conv.bias               (1,) float32
  MLP.0.weight                             (8, 113, 1, 1) float32
  MLP.2.weight                             (113, 8, 1, 1) float32
### CMGM(dim=64,num_heads=8)  (31 entries, 91608 params)
  k.weight                                 (64, 64) float32
  k.bias                                   (64,) float32
  qv.weight                                (128, 64) float32
  qv.bias                                  (128,) float32
  proj.weight                              (64, 64) float32
  proj.bias                                (64,) float32
  conv.weight                              (8, 8, 3, 3) float32
  conv.bias                                (8,) float32
  lnx.weight                               (64,) float32
  lnx.bias                                 (64,) float32
  lny.weight                               (64,) float32
  lny.bias                                 (64,) float32
  bn.weight                                (8,) float32
  bn.bias                                  (8,) float32
  bn.running_mean                          (8,) float32
  bn.running_var                           (8,) float32
  bn.num_batches_tracked                   () int64
  conv2.0.weight                           (64, 64, 3, 3) float32
  conv2.0.bias                             (64,) float32
  conv2.1.weight                           (64,) float32
  conv2.1.bias                             (64,) float32
  conv2.1.running_mean                     (64,) float32
  conv2.1.running_var                      (64,) float32
  conv2.1.num_batches_tracked              () int64
  conv2.3.weight                           (64, 64, 3, 3) float32
  conv2.3.bias                             (64,) float32
  conv2.4.weight                           (64,) float32
  conv2.4.bias                             (64,) float32
  conv2.4.running_mean                     (64,) float32
  conv2.4.running_var                      (64,) float32
  conv2.4.num_batches_tracked              () int64
### ECAAttention(kernel_size=7) [004]  (2 entries, 8 params)
  conv.weight                              (1, 1, 7) float32
  conv.bias                                (1,) float32
### SpatialAttention(kernel_size=7) [004]  (2 entries, 99 params)
  conv.weight                              (1, 2, 7, 7) float32
  conv.bias                                (1,) float32
"""

# modules.md section 11 (params at C=64)
SECTION_11 = {
    "CAFM": 33309, "MS_CAM": 4576, "AFF": 4576, "iAFF": 9152, "gatedFusion": 8320,
    "MSFblock": 20608, "MFEblock([2,4,8])": 168576, "SAFM": 4800, "OSRA(sr=2)": 15040,
    "OSRA(sr=1)": 13120, "ChannelAttention(r=16)": 512, "SpatialAttention(7)": 99,
    "CBAMBlock(64,8,7,HW=49)": 2931, "CMGM": 91608, "ECA004(k=7)": 8, "SA004(k=7)": 99,
}

S64 = (1, 64, 7, 7)


def _b(mid, params=None, shape=S64):
    return ref.build(mid, params or {}, [shape] * len(ref.INPUT_NAMES[mid]))


# Appendix A heading -> reference module at C=64
APPENDIX_BUILDERS = {
    "CAFM(channels=64)": lambda: _b("cafm"),
    "MS_CAM(channels=64,r=4)": lambda: _b("ms-cam"),
    "AFF(channels=64,r=4)": lambda: _b("aff"),
    "iAFF(channels=64,r=4)": lambda: _b("iaff"),
    "gatedFusion(dim=64)": lambda: _b("gated-fusion"),
    "MSFblock(in_channels=64)": lambda: _b("msf"),
    "MFEblock(64,[2,4,8])": lambda: _b("mfe", {"atrous_rates": "2,4,8"}),
    "SAFM(dim=64,n_levels=4)": lambda: _b("safm", shape=(1, 64, 8, 8)),
    "OSRAttention(dim=64,num_heads=8,sr_ratio=2)": lambda: _b("osra", {"sr_ratio": "2"}),
    "OSRAttention(dim=64,num_heads=8,sr_ratio=1)": lambda: _b("osra", {"sr_ratio": "1"}),
    "ChannelAttention(64,reduction=16)": lambda: ref._JointChannelAttention(64, 16),
    "SpatialAttention(kernel_size=7) [002]": lambda: ref._SpatialLogits(7),
    "CBAMBlock(channel=64,reduction=8,kernel_size=7,HW=49)":
        lambda: _b("cbam-joint", {"reduction": "8", "kernel_size": "7"}, (1, 64, 7, 7)),
    "CMGM(dim=64,num_heads=8)": lambda: _b("cmgm"),
    "ECAAttention(kernel_size=7) [004]": lambda: _b("eca", {"kernel_size": "7"}),
    "SpatialAttention(kernel_size=7) [004]": lambda: _b("spatial-attention", {"kernel_size": "7"}),
}

SECTION_11_BUILDERS = {
    "CAFM": "CAFM(channels=64)", "MS_CAM": "MS_CAM(channels=64,r=4)",
    "AFF": "AFF(channels=64,r=4)", "iAFF": "iAFF(channels=64,r=4)",
    "gatedFusion": "gatedFusion(dim=64)", "MSFblock": "MSFblock(in_channels=64)",
    "MFEblock([2,4,8])": "MFEblock(64,[2,4,8])", "SAFM": "SAFM(dim=64,n_levels=4)",
    "OSRA(sr=2)": "OSRAttention(dim=64,num_heads=8,sr_ratio=2)",
    "OSRA(sr=1)": "OSRAttention(dim=64,num_heads=8,sr_ratio=1)",
    "ChannelAttention(r=16)": "ChannelAttention(64,reduction=16)",
    "SpatialAttention(7)": "SpatialAttention(kernel_size=7) [002]",
    "CBAMBlock(64,8,7,HW=49)": "CBAMBlock(channel=64,reduction=8,kernel_size=7,HW=49)",
    "CMGM": "CMGM(dim=64,num_heads=8)", "ECA004(k=7)": "ECAAttention(kernel_size=7) [004]",
    "SA004(k=7)": "SpatialAttention(kernel_size=7) [004]",
}


def parse_appendix(text):
    """{heading: (entries, params, [(key, shape, dtype), ...])} from an Appendix A dump."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"### (.*?)  \((\d+) entries, (\d+) params\)\s*$", line)
        if m:
            cur = m.group(1)
            out[cur] = (int(m.group(2)), int(m.group(3)), [])
            continue
        m = re.match(r"\s+(\S+)\s+\(([\d, ]*)\)\s+(\w+)\s*$", line)
        if m and cur is not None:
            shape = tuple(int(v) for v in m.group(2).replace(" ", "").split(",") if v)
            out[cur][2].append((m.group(1), shape, m.group(3)))
    return out


def sd_table(model):
    return [(k, tuple(v.shape), str(v.dtype).replace("torch.", "")) for k, v in
            model.state_dict().items()]


def _find_spec():
    cands = []
    if os.environ.get("FL_SPEC_DIR"):
        cands.append(os.path.join(os.environ["FL_SPEC_DIR"], "modules.md"))
    repo = os.path.dirname(os.path.dirname(HERE))
    cands += [os.path.join(repo, "docs", "spec", "modules.md"),
              os.path.join(os.path.dirname(repo), "shared", "spec", "modules.md"),
              "/work/shared/spec/modules.md"]
    for c in cands:
        if os.path.isfile(c):
            return c
    return None


# --------------------------------------------------------------------------------------------
# tiny test harness
# --------------------------------------------------------------------------------------------

RESULTS = []


def check(name):
    def deco(fn):
        try:
            fn()
            RESULTS.append((name, True, ""))
        except Exception as e:  # noqa: BLE001
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            if VERBOSE:
                detail = traceback.format_exc()
            RESULTS.append((name, False, detail))
        return fn
    return deco


def expect(cond, msg):
    if not cond:
        raise AssertionError(msg)


def rnd(model, seed=0):
    torch.manual_seed(seed)
    return ref.randomize_(model).eval()


def run(model, *inputs):
    with torch.no_grad():
        return model(*inputs)


def write_safetensors(path, tensors, metadata=None):
    """A dict of numpy arrays as .safetensors (to feed check_result.py), written by the capture
    bridge's own writer (python/fusionlens_capture.py), the one users' files come from."""
    fusionlens_capture.write_safetensors(
        path, [(k, torch.from_numpy(np.ascontiguousarray(v))) for k, v in tensors.items()], metadata)


# --------------------------------------------------------------------------------------------
# 1./2. parameter counts and state_dict layouts
# --------------------------------------------------------------------------------------------

APPX = parse_appendix(APPENDIX_A)


@check("embedded Appendix A is complete and self-consistent")
def _():
    expect(set(APPX) == set(APPENDIX_BUILDERS), "headings %s" % sorted(set(APPX) ^ set(APPENDIX_BUILDERS)))
    for head, (n, p, rows) in APPX.items():
        expect(len(rows) == n, "%s: %d rows, heading says %d" % (head, len(rows), n))
        cnt = sum(int(np.prod(s)) for k, s, d in rows
                  if d == "float32" and not k.endswith(("running_mean", "running_var")))
        expect(cnt == p, "%s: rows sum to %d params, heading says %d" % (head, cnt, p))
    for name, head in SECTION_11_BUILDERS.items():
        expect(APPX[head][1] == SECTION_11[name], "%s: section 11 vs Appendix A" % name)


@check("embedded Appendix A equals modules.md (when the spec is available)")
def _():
    path = _find_spec()
    if path is None:
        print("  note: modules.md not found (set FL_SPEC_DIR); using the embedded copy only")
        return
    txt = open(path, encoding="utf-8").read()
    expect("## Appendix A" in txt, "%s has no Appendix A" % path)
    live = parse_appendix(txt[txt.index("## Appendix A"):])
    expect(live == APPX, "%s Appendix A differs from the embedded copy" % path)


for _name, _head in SECTION_11_BUILDERS.items():
    @check("param count %s == %d" % (_name, SECTION_11[_name]))
    def _(_name=_name, _head=_head):
        n = ref.param_count(APPENDIX_BUILDERS[_head]())
        expect(n == SECTION_11[_name], "%s has %d params, expected %d" % (_name, n, SECTION_11[_name]))

for _head in APPENDIX_BUILDERS:
    @check("state_dict %s == Appendix A" % _head)
    def _(_head=_head):
        got = sd_table(APPENDIX_BUILDERS[_head]())
        want = APPX[_head][2]
        if got != want:
            gk, wk = [r[0] for r in got], [r[0] for r in want]
            diff = [("missing", r) for r in want if r not in got] + [("extra", r) for r in got if r not in want]
            raise AssertionError("%s: %s%s" % (_head, diff[:6], " (order differs)" if not diff and gk != wk else ""))


def _bn(prefix, C):
    return [(prefix + ".weight", (C,), "float32"), (prefix + ".bias", (C,), "float32"),
            (prefix + ".running_mean", (C,), "float32"), (prefix + ".running_var", (C,), "float32"),
            (prefix + ".num_batches_tracked", (), "int64")]


@check("mfe se_variant=shisrcnet keys (SEk.conv.0 with bias + SEk.conv.1 BN)")
def _():
    got = sd_table(_b("mfe", {"se_variant": "shisrcnet"}))
    base = [r for r in APPX["MFEblock(64,[2,4,8])"][2] if not r[0].startswith("SE")]
    want = list(base)
    for k in range(1, 5):
        p = "SE%d.conv" % k
        want += [(p + ".0.weight", (64, 64, 1, 1), "float32"), (p + ".0.bias", (64,), "float32")]
        want += _bn(p + ".1", 64)
    expect(got == want, "got %s" % [r[0] for r in got if r not in want])
    expect(ref.param_count(_b("mfe", {"se_variant": "shisrcnet"})) == 168576 - 4 * 4096 + 4 * (4096 + 64 + 128),
           "shisrcnet param count")


@check("osra variant=transxnet keys (sr.0.conv, sr.0.bn, sr.1.conv, sr.1.bn)")
def _():
    got = sd_table(_b("osra", {"variant": "transxnet"}))
    seed = APPX["OSRAttention(dim=64,num_heads=8,sr_ratio=2)"][2]
    mapping = {"sr.0.": "sr.0.conv.", "sr.1.": "sr.0.bn.", "sr.3.": "sr.1.conv.", "sr.4.": "sr.1.bn."}
    want = []
    for k, s, d in seed:
        for a, b in mapping.items():
            if k.startswith(a):
                k = b + k[len(a):]
                break
        want.append((k, s, d))
    expect(got == want, "got %s" % got)
    got1 = sd_table(_b("osra", {"variant": "transxnet", "sr_ratio": "1"}))
    expect(got1 == APPX["OSRAttention(dim=64,num_heads=8,sr_ratio=1)"][2], "transxnet sr=1 keys")
    got3 = dict((k, s) for k, s, _ in sd_table(_b("osra", {"sr_ratio": "3"})))
    expect(got3["sr.0.weight"] == (64, 1, 6, 6), "sr=3 kernel is sr+3")


@check("cmgm qkv_bias=false drops k.bias / qv.bias; generalized == faithful layout at 64/8")
def _():
    full = APPX["CMGM(dim=64,num_heads=8)"][2]
    got = sd_table(_b("cmgm", {"qkv_bias": "false"}))
    expect(got == [r for r in full if r[0] not in ("k.bias", "qv.bias")], "no-bias keys")
    expect(sd_table(_b("cmgm", {"mode": "generalized"})) == full, "generalized at 64/8")
    g = dict((k, s) for k, s, _ in sd_table(_b("cmgm", {"mode": "generalized", "num_heads": "4"},
                                                     (1, 32, 5, 7))))
    expect(g["conv.weight"] == (4, 4, 3, 3) and g["bn.weight"] == (4,) and
           g["lnx.weight"] == (32,) and g["conv2.0.weight"] == (32, 32, 3, 3), "generalized shapes")


@check("se keys: fc.0.weight (C/r,C), fc.2.weight (C,C/r), no bias")
def _():
    got = sd_table(_b("se", {}, (1, 64, 5, 5)))
    expect(got == [("fc.0.weight", (4, 64), "float32"), ("fc.2.weight", (64, 4), "float32")], got)


@check("cbam keys: Jongchan layout, BN momentum 0.01")
def _():
    m = _b("cbam", {}, (1, 64, 5, 5))
    want = [("ChannelGate.mlp.1.weight", (4, 64), "float32"), ("ChannelGate.mlp.1.bias", (4,), "float32"),
            ("ChannelGate.mlp.3.weight", (64, 4), "float32"), ("ChannelGate.mlp.3.bias", (64,), "float32"),
            ("SpatialGate.spatial.conv.weight", (1, 2, 7, 7), "float32")] + _bn("SpatialGate.spatial.bn", 1)
    expect(sd_table(m) == want, sd_table(m))
    bn = m.SpatialGate.spatial.bn
    expect(bn.momentum == 0.01 and bn.eps == 1e-5, "bn momentum/eps")


@check("every module: output count, probe names and shapes (architecture.md)")
def _():
    B, C, H, W = 2, 16, 9, 11
    for mid in ref.MODULE_IDS:
        params, shape = {}, (B, C, H, W)
        if mid == "cmgm":
            shape = (B, 64, 5, 7)
        m = rnd(_b(mid, params, shape))
        outs, probes = run(m, *[torch.randn(shape) for _ in ref.INPUT_NAMES[mid]])
        expect(len(outs) == ref.OUTPUT_COUNT[mid], "%s: %d outputs" % (mid, len(outs)))
        expect(list(probes) == ref.PROBE_NAMES[mid], "%s: probes %s" % (mid, list(probes)))
        b, c, h, w = shape
        n = h * w
        want = {"weight": (b, c, h, w), "local": (b, c, h, w), "global": (b, c), "weight2": (b, c, h, w),
                "cross": (b, c, c), "spatial1": (b, 1, h, w), "spatial2": (b, 1, h, w),
                "gate": (b, c, h, w), "scale_weights": (b, c, 4), "modulation": (b, c, h, w),
                "channel_weight": (b, c), "spatial_weight": (b, 1, h, w)}
        for pn, t in probes.items():
            if pn == "attention":
                continue
            expect(tuple(t.shape) == want[pn], "%s probe %s shape %s" % (mid, pn, tuple(t.shape)))
            expect(t.dtype == torch.float32, "%s probe %s dtype" % (mid, pn))
        for i, o in enumerate(outs):
            exp = (b, 8, n, n) if (mid == "cmgm" and i == 1) else shape
            expect(tuple(o.shape) == exp, "%s output %d shape %s" % (mid, i, tuple(o.shape)))
        if mid == "osra":
            expect(tuple(probes["attention"].shape) == (b, 8, n, 5 * 6), "osra attention shape")
        if mid == "cmgm":
            expect(tuple(probes["attention"].shape) == (b, 8, n, n), "cmgm attention shape")


# --------------------------------------------------------------------------------------------
# 3. facts
# --------------------------------------------------------------------------------------------

@check("AFF scale=2 output == 2 x scale=1 output (same weights)")
def _():
    shape = (2, 16, 7, 9)
    m1 = rnd(_b("aff", {"scale": "1"}, shape), 3)
    m2 = _b("aff", {"scale": "2"}, shape)
    m2.load_state_dict(m1.state_dict())
    x, r = torch.randn(shape), torch.randn(shape)
    (o1,), p1 = run(m1, x, r)
    (o2,), p2 = run(m2, x, r)
    expect(torch.equal(o2, 2 * o1), "max diff %g" % (o2 - 2 * o1).abs().max())
    expect(torch.equal(p1["weight"], p2["weight"]), "weight differs")
    xa = x + r
    w = torch.sigmoid(m1.local_att(xa) + m1.global_att(xa))
    expect(torch.allclose(o1, x * w + r * (1 - w), atol=1e-6), "AFF formula")


@check("iAFF weight2 uses global_att unless use_global_att2")
def _():
    shape = (2, 16, 5, 11)
    m = rnd(_b("iaff", {}, shape), 4)
    x, r = torch.randn(shape), torch.randn(shape)
    (o,), p = run(m, x, r)
    with torch.no_grad():
        xa = x + r
        w = torch.sigmoid(m.local_att(xa) + m.global_att(xa))
        xi = x * w + r * (1 - w)
        w2_bug = torch.sigmoid(m.local_att2(xi) + m.global_att(xi))
        w2_mx = torch.sigmoid(m.local_att2(xi) + m.global_att2(xi))
    expect(torch.allclose(p["weight"], w, atol=1e-6), "weight")
    expect(torch.allclose(p["weight2"], w2_bug, atol=1e-6), "weight2 != sigma(L2(xi)+G1(xi))")
    expect(not torch.allclose(w2_bug, w2_mx, atol=1e-3), "test weights do not separate G1/G2")
    expect(torch.allclose(o, x * w2_bug + r * (1 - w2_bug), atol=1e-6), "iAFF output formula")
    # global_att2 is dead code by default: scrambling it changes nothing
    with torch.no_grad():
        for prm in m.global_att2.parameters():
            prm.add_(torch.randn_like(prm))
    (o_b,), p_b = run(m, x, r)
    expect(torch.equal(o_b, o) and torch.equal(p_b["weight2"], p["weight2"]), "global_att2 used by default")
    m2 = _b("iaff", {"use_global_att2": "true"}, shape)
    m2.load_state_dict(m.state_dict())
    with torch.no_grad():
        w2_mx = torch.sigmoid(m.local_att2(xi) + m.global_att2(xi))
    (o2,), p2 = run(m2, x, r)
    expect(torch.allclose(p2["weight2"], w2_mx, atol=1e-6), "use_global_att2 weight2")
    expect(torch.allclose(p2["weight"], w, atol=1e-6), "use_global_att2 weight")


@check("CAFM: spatial maps sum to 1 over H*W; cross has rank 1; o = f*(1+s)")
def _():
    shape = (2, 16, 7, 9)
    m = rnd(_b("cafm", {}, shape), 5)
    f1, f2 = torch.randn(shape), torch.randn(shape)
    (o1, o2), p = run(m, f1, f2)
    for k in ("spatial1", "spatial2"):
        s = p[k].reshape(2, -1).double().sum(-1)
        expect(torch.allclose(s, torch.ones(2, dtype=torch.float64), atol=1e-5), "%s sums %s" % (k, s))
        expect(bool((p[k] > 0).all()), "%s not positive" % k)
    cross = p["cross"].double()
    for b in range(2):
        sv = torch.linalg.svdvals(cross[b])
        expect(float(sv[1] / sv[0]) < 1e-5, "cross[%d] not rank 1: %s" % (b, sv[:3]))
        expect(int(torch.linalg.matrix_rank(p["cross"][b])) == 1, "matrix_rank (float32) != 1")
    expect(torch.allclose(o1, f1 * (1 + p["spatial1"]), atol=1e-5), "o1 != f1*(1+s1)")
    expect(torch.allclose(o2, f2 * (1 + p["spatial2"]), atol=1e-5), "o2 != f2*(1+s2)")
    # a1 from separate avg/max MLPs: cross[b,i,j] = a1[i]*a2[j]
    with torch.no_grad():
        f1r, f2r = f1.reshape(2, 16, -1), f2.reshape(2, 16, -1)
        a1 = m._channel_logits(f1r, m.avg1, m.avg11, m.max1, m.max11)
        a2 = m._channel_logits(f2r, m.avg2, m.avg22, m.max2, m.max22)
    expect(torch.allclose(p["cross"], a1 * a2.transpose(1, 2), atol=1e-4, rtol=1e-5), "outer product")


@check("MS-CAM: weight = sigmoid(local + global), out = x*weight")
def _():
    shape = (2, 16, 5, 11)
    m = rnd(_b("ms-cam", {}, shape), 6)
    x = torch.randn(shape)
    (o,), p = run(m, x)
    w = torch.sigmoid(p["local"] + p["global"][:, :, None, None])
    expect(torch.allclose(p["weight"], w, atol=1e-6) and torch.allclose(o, x * w, atol=1e-6), "ms-cam")


@check("gated-fusion: Linear on channels == 1x1 conv; out = z*x1 + (1-z)*x2")
def _():
    shape = (2, 16, 5, 7)
    m = rnd(_b("gated-fusion", {}, shape), 7)
    x1, x2 = torch.randn(shape), torch.randn(shape)
    (o,), p = run(m, x1, x2)
    z = torch.sigmoid(F.conv2d(x1, m.fc1.weight[:, :, None, None], m.fc1.bias) +
                      F.conv2d(x2, m.fc2.weight[:, :, None, None], m.fc2.bias))
    expect(torch.allclose(p["gate"], z, atol=1e-5), "gate")
    expect(torch.allclose(o, z * x1 + (1 - z) * x2, atol=1e-5), "output")


@check("MSF/MFE: scale weights sum to 1 over scales, within the documented ranges")
def _():
    for mid, params, lo, hi in (("msf", {}, 0.109, 0.476), ("mfe", {}, 0.109, 0.476),
                                ("mfe", {"se_variant": "shisrcnet"}, 0.168, 0.356)):
        shape = (2, 16, 7, 9)
        m = _b(mid, params, shape)
        torch.manual_seed(8)
        ref.randomize_(m)
        with torch.no_grad():   # blow the SE weights up so the sigmoids saturate
            for k in range(1, 5):
                for prm in getattr(m, "SE%d" % k).parameters():
                    prm.mul_(20)
        (o,), p = run(m, *[torch.randn(shape) for _ in ref.INPUT_NAMES[mid]])
        w = p["scale_weights"].double()
        expect(torch.allclose(w.sum(-1), torch.ones_like(w.sum(-1)), atol=1e-6), "%s sum" % mid)
        expect(float(w.min()) >= lo and float(w.max()) <= hi,
               "%s %s range [%g, %g]" % (mid, params, float(w.min()), float(w.max())))
        expect(bool((o >= 0).all()), "%s output not ReLU'd" % mid)


@check("SAFM: constraints (C % n_levels, H,W >= 2^(n-1)); modulation >= GELU min")
def _():
    for shape, params in (((1, 30, 8, 8), {}), ((1, 6, 8, 8), {})):
        try:
            _b("safm", params, shape)
            raise AssertionError("safm accepted C=%d" % shape[1])
        except ValueError:
            pass
    m = rnd(_b("safm", {}, (1, 16, 7, 7)))
    try:
        run(m, torch.randn(1, 16, 7, 7))
        raise AssertionError("safm accepted 7x7 with n_levels=4")
    except ValueError:
        pass
    (o,), p = run(m, torch.randn(2, 16, 9, 13))
    expect(float(p["modulation"].min()) >= -0.1701, "GELU lower bound")


@check("OSRA: H' = ceil(H/sr) for even sr, floor(H/sr)+1 for odd; rows sum to 1")
def _():
    for sr, hw, want in ((2, (7, 7), (4, 4)), (3, (7, 7), (3, 3)), (4, (7, 7), (2, 2)),
                         (3, (7, 9), (3, 4)), (3, (9, 13), (4, 5)), (2, (5, 11), (3, 6)),
                         (1, (5, 7), (5, 7)), (8, (56, 56), (7, 7))):
        shape = (1, 16, hw[0], hw[1])
        for variant in ("seed", "transxnet"):
            m = rnd(_b("osra", {"sr_ratio": str(sr), "num_heads": "4", "variant": variant}, shape))
            (o,), p = run(m, torch.randn(shape))
            a = p["attention"]
            expect(tuple(a.shape) == (1, 4, hw[0] * hw[1], want[0] * want[1]),
                   "sr=%d %s: attention %s" % (sr, hw, tuple(a.shape)))
            expect(torch.allclose(a.sum(-1), torch.ones(a.shape[:-1]), atol=1e-5), "rows")
            expect(tuple(o.shape) == shape, "output shape")
    m = _b("osra", {"qk_scale": "0"}, (1, 32, 5, 5))
    expect(abs(m.scale - 4 ** -0.5) < 1e-12, "qk_scale=0 -> head_dim^-0.5")
    expect(_b("osra", {"qk_scale": "0.3"}, (1, 32, 5, 5)).scale == 0.3, "explicit qk_scale")


@check("OSRA seed and transxnet differ only by ReLU vs GELU")
def _():
    shape = (2, 16, 7, 9)
    ms = rnd(_b("osra", {"num_heads": "4"}, shape), 9)
    mt = _b("osra", {"num_heads": "4", "variant": "transxnet"}, shape)
    mapping = {"sr.0.": "sr.0.conv.", "sr.1.": "sr.0.bn.", "sr.3.": "sr.1.conv.", "sr.4.": "sr.1.bn."}
    sd = {}
    for k, v in ms.state_dict().items():
        for a, b in mapping.items():
            if k.startswith(a):
                k = b + k[len(a):]
                break
        sd[k] = v
    mt.load_state_dict(sd)
    x = torch.randn(shape)
    (os_,), _ = run(ms, x)
    (ot,), _ = run(mt, x)
    expect(not torch.allclose(os_, ot, atol=1e-4), "GELU variant identical to ReLU")
    with torch.no_grad():
        kv = ms.sr[4](ms.sr[3](F.gelu(ms.sr[1](ms.sr[0](x)))))
        kv2 = mt.sr(x)
    expect(torch.allclose(kv, kv2, atol=1e-6), "transxnet sr = conv,bn,GELU,conv,bn")


@check("OSRA relative_pos_enc: TransXNet sizes, zeros = none, bicubic resize to (N, N')")
def _():
    shape = (2, 16, 9, 13)
    base = rnd(_b("osra", {"num_heads": "4", "sr_ratio": "3"}, shape), 25)
    m = _b("osra", {"num_heads": "4", "sr_ratio": "3", "relative_pos_enc": "true",
                    "pos_enc_grid": "8,8"}, shape)
    expect(tuple(m.relative_pos_enc.shape) == (1, 4, 64, 9), "rpe shape %s" % (m.relative_pos_enc.shape,))
    expect(list(m.state_dict())[0] == "relative_pos_enc", "rpe key")
    m.load_state_dict(dict(base.state_dict(), relative_pos_enc=torch.zeros(1, 4, 64, 9)))
    x = torch.randn(shape)
    (o0,), p0 = run(base, x)
    (o1,), p1 = run(m, x)
    expect(torch.allclose(o0, o1, atol=1e-6), "a zero encoding changes the output")
    with torch.no_grad():
        m.relative_pos_enc.copy_(torch.randn(1, 4, 64, 9))
        (o2,), p2 = run(m, x)
        q = m.q(x).reshape(2, 4, 4, -1).transpose(-1, -2)
        kv = m.sr(x)
        k, v = torch.chunk(m.kv(m.local_conv(kv) + kv), 2, dim=1)
        logits = q @ k.reshape(2, 4, 4, -1) * m.scale                    # (2,4,117,20)
        bias = F.interpolate(m.relative_pos_enc, size=(117, 20), mode="bicubic", align_corners=False)
        attn = torch.softmax(logits + bias, -1)
    expect(tuple(p2["attention"].shape) == (2, 4, 117, 20), "attention shape")
    expect(torch.allclose(p2["attention"], attn, atol=1e-6), "rpe added before the softmax")
    expect(not torch.allclose(o2, o0, atol=1e-3), "the encoding has no effect")
    own = _b("osra", {"relative_pos_enc": "true"}, (1, 32, 7, 9))
    expect(tuple(own.relative_pos_enc.shape) == (1, 8, 63, 20), "grid 0,0 = the input's")


@check("cbam-joint: channel order max first, logits sub-modules, H*W checked")
def _():
    shape = (2, 16, 5, 7)
    m = rnd(_b("cbam-joint", {}, shape), 10)
    x = torch.randn(shape)
    (o1, o2), p = run(m, x)
    with torch.no_grad():
        sp = F.conv2d(torch.cat([x.max(1, keepdim=True)[0], x.mean(1, keepdim=True)], 1),
                      m.SpatialAttention.conv.weight, m.SpatialAttention.conv.bias, padding=3)
        ch = m.ChannelAttention.se(F.adaptive_max_pool2d(x, 1)) + m.ChannelAttention.se(F.adaptive_avg_pool2d(x, 1))
        cs = m.MLP(torch.cat([ch, sp.reshape(2, 35, 1, 1)], 1))
    expect(torch.allclose(p["channel_weight"], torch.sigmoid(cs[:, :16, 0, 0]), atol=1e-6), "cw")
    expect(torch.allclose(p["spatial_weight"], torch.sigmoid(cs[:, 16:]).reshape(2, 1, 5, 7), atol=1e-6), "sw")
    expect(torch.allclose(o1, x * p["channel_weight"][:, :, None, None], atol=1e-6), "out0")
    expect(torch.allclose(o2, x * p["spatial_weight"], atol=1e-6), "out1")
    try:
        run(m, torch.randn(1, 16, 7, 5 + 1))
        raise AssertionError("cbam-joint accepted H*W != HW")
    except ValueError:
        pass


@check("cmgm: faithful needs 64/8; attention row-stochastic; cam = ReLU(BN(conv(A+A^T)))")
def _():
    for shape, params in (((1, 32, 4, 4), {}), ((1, 64, 4, 4), {"num_heads": "4"})):
        try:
            _b("cmgm", params, shape)
            raise AssertionError("faithful cmgm accepted %s %s" % (shape, params))
        except ValueError:
            pass
    shape = (2, 64, 4, 6)
    m = rnd(_b("cmgm", {}, shape), 11)
    x, y = torch.randn(shape), torch.randn(shape)
    (o, cam), p = run(m, x, y)
    a = p["attention"]
    expect(torch.allclose(a.sum(-1), torch.ones(2, 8, 24), atol=1e-5), "rows")
    with torch.no_grad():
        c2 = F.relu(m.bn(m.conv(a + a.transpose(-1, -2))))
    expect(torch.allclose(cam, c2, atol=1e-6), "cam")
    expect(bool((cam >= 0).all()), "cam >= 0")
    # keys from y: changing y changes attention, q/v from x
    (o_b, _), p_b = run(m, x, torch.randn(shape))
    expect(not torch.allclose(p_b["attention"], a), "attention ignores y")


@check("eca: shared biased conv on max and avg; padding seed (3) or same ((k-1)//2)")
def _():
    shape = (2, 32, 5, 7)
    for k, padding in ((3, "same"), (5, "same"), (7, "same"), (7, "seed")):
        m = rnd(_b("eca", {"kernel_size": str(k), "padding": padding}, shape), k)
        pad = (k - 1) // 2 if padding == "same" else 3
        expect(m.conv.padding == (pad,), "padding")
        x = torch.randn(shape)
        (o,), p = run(m, x)
        w, b = m.conv.weight, m.conv.bias
        mx = x.amax((2, 3)).unsqueeze(1)
        av = x.mean((2, 3)).unsqueeze(1)
        y = torch.sigmoid(F.conv1d(mx, w, b, padding=pad) + F.conv1d(av, w, b, padding=pad))
        expect(torch.allclose(p["channel_weight"], y[:, 0], atol=1e-6), "eca k=%d" % k)
        expect(torch.allclose(o, x * y[:, 0, :, None, None], atol=1e-6), "eca out")
    # the seed's fixed padding 3 only keeps C channels at k = 7 (modules.md section 9)
    for k in (3, 5, 9):
        try:
            _b("eca", {"kernel_size": str(k)}, shape)
            raise AssertionError("eca padding=seed accepted kernel %d" % k)
        except ValueError:
            pass


@check("eca adaptive kernel (ECA-Net formula) and the official avg-only, bias-free variant")
def _():
    table = {16: 3, 32: 3, 64: 3, 128: 5, 256: 5, 512: 5, 1024: 5, 2048: 7}
    got = {c: ref.eca_adaptive_kernel(c) for c in table}
    expect(got == table, "adaptive k %s" % got)
    m = _b("eca", {"adaptive_kernel": "true", "padding": "same"}, (1, 256, 3, 3))
    expect(tuple(m.conv.weight.shape) == (1, 1, 5), "adaptive kernel at C=256")
    shape = (2, 64, 5, 7)
    m = rnd(_b("eca", {"variant": "official", "adaptive_kernel": "true", "padding": "same"},
               shape), 21)
    expect(sd_table(m) == [("conv.weight", (1, 1, 3), "float32")], sd_table(m))
    x = torch.randn(shape)
    (o,), p = run(m, x)
    y = torch.sigmoid(F.conv1d(x.mean((2, 3)).unsqueeze(1), m.conv.weight, padding=1))[:, 0]
    expect(torch.allclose(p["channel_weight"], y, atol=1e-6), "official eca weight")
    expect(torch.allclose(o, x * y[:, :, None, None], atol=1e-6), "official eca out")
    # same means, larger maxima: the official weights stay, the seed's (avg + max) move
    x2 = x.clone()
    x2[:, :, 0, 0] += 50.0
    x2[:, :, 0, 1] -= 50.0
    (_,), p2 = run(m, x2)
    expect(torch.allclose(p["channel_weight"], p2["channel_weight"], atol=1e-5),
           "official eca depends on more than GAP")
    ms = rnd(_b("eca", {"kernel_size": "3", "padding": "same"}, shape), 21)
    (_,), q1 = run(ms, x)
    (_,), q2 = run(ms, x2)
    expect(not torch.allclose(q1["channel_weight"], q2["channel_weight"], atol=1e-3),
           "seed eca ignores the max")


@check("spatial-attention / cbam / se: formulas")
def _():
    shape = (2, 32, 5, 7)
    x = torch.randn(shape)
    m = rnd(_b("spatial-attention", {"kernel_size": "3", "padding": "same"}, shape), 12)
    (o,), p = run(m, x)
    s = torch.sigmoid(F.conv2d(torch.cat([x.amax(1, True), x.mean(1, True)], 1),
                               m.conv.weight, m.conv.bias, padding=1))
    expect(torch.allclose(p["spatial_weight"], s, atol=1e-6) and torch.allclose(o, x * s, atol=1e-6), "sa")
    m = rnd(_b("se", {}, shape), 13)
    (o,), p = run(m, x)
    s = torch.sigmoid(F.linear(F.relu(F.linear(x.mean((2, 3)), m.fc[0].weight)), m.fc[2].weight))
    expect(torch.allclose(p["channel_weight"], s, atol=1e-6), "se")
    m = rnd(_b("cbam", {}, shape), 14)
    (o,), p = run(m, x)
    g = m.ChannelGate.mlp
    cw = torch.sigmoid(g(F.avg_pool2d(x, (5, 7))) + g(F.max_pool2d(x, (5, 7))))
    x1 = x * cw[:, :, None, None]
    bn = m.SpatialGate.spatial.bn
    z = F.conv2d(torch.cat([x1.amax(1, True), x1.mean(1, True)], 1), m.SpatialGate.spatial.conv.weight, padding=3)
    z = (z - bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(bn.running_var.view(1, -1, 1, 1) + 1e-5) \
        * bn.weight.view(1, -1, 1, 1) + bn.bias.view(1, -1, 1, 1)
    sw = torch.sigmoid(z)
    expect(torch.allclose(p["channel_weight"], cw, atol=1e-6), "cbam cw")
    expect(torch.allclose(p["spatial_weight"], sw, atol=1e-5), "cbam sw")
    expect(torch.allclose(o, x1 * sw, atol=1e-5), "cbam out")


@check("spatial-attention: padding seed (3) runs only at k=7; same (k//2) equals it there")
def _():
    shape = (2, 16, 5, 7)
    for k in (3, 5, 9):
        try:
            _b("spatial-attention", {"kernel_size": str(k)}, shape)
            raise AssertionError("padding=seed accepted kernel %d" % k)
        except ValueError:
            pass
    a = rnd(_b("spatial-attention", {}, shape), 22)
    b = _b("spatial-attention", {"padding": "same"}, shape)
    b.load_state_dict(a.state_dict())
    x = torch.randn(shape)
    expect(torch.equal(run(a, x)[0][0], run(b, x)[0][0]), "k=7: seed and same padding differ")


@check("cafm legacy_layout: (N,C) for B=1, (C,B,N) for B>1, same values")
def _():
    for shape in ((1, 16, 7, 9), (2, 16, 5, 11)):
        B, C, H, W = shape
        a = rnd(_b("cafm", {}, shape), 23)
        b = _b("cafm", {"legacy_layout": "true"}, shape)
        b.load_state_dict(a.state_dict())
        f1, f2 = torch.randn(shape), torch.randn(shape)
        (o1, o2), pa = run(a, f1, f2)
        (l1, l2), pb = run(b, f1, f2)
        want = (H * W, C) if B == 1 else (C, B, H * W)
        expect(tuple(l1.shape) == want and tuple(l2.shape) == want, "legacy shape %s" % (tuple(l1.shape),))
        for o, l in ((o1, l1), (o2, l2)):
            canon = o.reshape(B, C, H * W)
            back = l.transpose(0, 1).reshape(B, C, H * W) if B > 1 else l.transpose(0, 1)[None]
            expect(torch.equal(back, canon), "legacy values differ")
        expect(all(torch.equal(pa[k], pb[k]) for k in pa), "legacy probes differ")


@check("gated-fusion variant=gman: GMAN-PyTorch keys, 17,088 params at D=64, formula")
def _():
    m = _b("gated-fusion", {"variant": "gman"}, (1, 64, 3, 3))
    want = [("FC_xs.convs.0.conv.weight", (64, 64, 1, 1), "float32")] + _bn("FC_xs.convs.0.batch_norm", 64)
    want += [("FC_xt.convs.0.conv.weight", (64, 64, 1, 1), "float32"),
             ("FC_xt.convs.0.conv.bias", (64,), "float32")] + _bn("FC_xt.convs.0.batch_norm", 64)
    for i in range(2):
        want += [("FC_h.convs.%d.conv.weight" % i, (64, 64, 1, 1), "float32"),
                 ("FC_h.convs.%d.conv.bias" % i, (64,), "float32")] + _bn("FC_h.convs.%d.batch_norm" % i, 64)
    expect(sd_table(m) == want, [r for r in sd_table(m) if r not in want])
    expect(ref.param_count(m) == 17088, "params %d" % ref.param_count(m))
    shape = (2, 16, 5, 7)
    m = rnd(_b("gated-fusion", {"variant": "gman"}, shape), 24)
    x1, x2 = torch.randn(shape), torch.randn(shape)
    (o,), p = run(m, x1, x2)

    def cbn(conv, bn, x):   # 1x1 conv + eval BatchNorm on NCHW
        y = F.conv2d(x, conv.weight, conv.bias)
        return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    with torch.no_grad():
        xs = cbn(m.FC_xs.convs[0].conv, m.FC_xs.convs[0].batch_norm, x1)
        xt = cbn(m.FC_xt.convs[0].conv, m.FC_xt.convs[0].batch_norm, x2)
        z = torch.sigmoid(xs + xt)
        h = z * x1 + (1 - z) * x2
        h = F.relu(cbn(m.FC_h.convs[0].conv, m.FC_h.convs[0].batch_norm, h))
        h = cbn(m.FC_h.convs[1].conv, m.FC_h.convs[1].batch_norm, h)
    expect(m.FC_xs.convs[0].conv.bias is None, "FC_xs has a bias")
    expect(torch.allclose(p["gate"], z, atol=1e-5), "gman gate")
    expect(torch.allclose(o, h, atol=1e-4), "gman output, max diff %g" % (o - h).abs().max())


@check("build: params as strings, unknown params rejected, full_params lists defaults")
def _():
    expect(ref.full_params("osra") == {"num_heads": "8", "sr_ratio": "2", "qk_scale": "0",
                                       "variant": "seed", "relative_pos_enc": "false",
                                       "pos_enc_grid": "0,0"}, "osra defaults")
    expect(ref.full_params("mfe", {"se_variant": "shisrcnet"}) ==
           {"atrous_rates": "2,4,8", "se_variant": "shisrcnet"}, "mfe")
    try:
        ref.build("se", {"bogus": "1"}, [(1, 32, 3, 3)])
        raise AssertionError("unknown param accepted")
    except ValueError:
        pass
    m = ref.build("iaff", {"use_global_att2": "true"}, [(1, 16, 3, 3)] * 2)
    expect(m.use_global_att2 and not m.training, "bool parse / eval mode")


# --------------------------------------------------------------------------------------------
# 4. make_cases determinism, check_result good / bad
# --------------------------------------------------------------------------------------------

@check("make_cases.py deterministic; check_result.py passes good and fails bad results")
def _():
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        d1, d2 = os.path.join(tmp, "a"), os.path.join(tmp, "b")
        for d in (d1, d2):
            subprocess.run([py, os.path.join(HERE, "make_cases.py"), d, "--modules", "cafm,eca"],
                           check=True, stdout=subprocess.DEVNULL)
        for root, _, files in os.walk(d1):
            for f in files:
                p1 = os.path.join(root, f)
                p2 = os.path.join(d2, os.path.relpath(p1, d1))
                expect(open(p1, "rb").read() == open(p2, "rb").read(), "not deterministic: %s" % f)
        man_path = os.path.join(d1, "manifest.json")
        man = json.load(open(man_path))
        expect(len(man["cases"]) >= 6, "cases")
        case = [c for c in man["cases"] if c["module"] == "cafm"][0]
        weights = torch.load(os.path.join(d1, case["weights"]))
        expect(type(weights).__name__ == "OrderedDict", "weights.pt is the plain state_dict")
        expect(weights["conv1_spatial.weight"].shape == (1, 2, 3, 3), "weights content")
        tensors = {}
        for rel in case["outputs"]:
            tensors[os.path.basename(rel)[:-4]] = np.load(os.path.join(d1, rel))
        for pn, rel in case["probes"].items():
            tensors["probe." + pn] = np.load(os.path.join(d1, rel))
        expect(set(tensors) == {"output.0", "output.1", "probe.cross", "probe.spatial1", "probe.spatial2"},
               sorted(tensors))

        def cr(result, *extra):
            r = subprocess.run([py, os.path.join(HERE, "check_result.py"), "--manifest", man_path,
                                "--case", case["name"], "--result", result] + list(extra),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
            return r.returncode, r.stdout

        def variant(name, mutate, meta=None):
            t = {k: v.copy() for k, v in tensors.items()}
            mutate(t)
            path = os.path.join(tmp, name + ".safetensors")
            write_safetensors(path, t, meta)
            return path

        good = variant("good", lambda t: None, {"format": "pt"})
        rc, out = cr(good)
        expect(rc == 0, "good result rejected:\n" + out)
        expect(out.count("\nok  ") + out.startswith("ok  ") == 5, "one line per tensor:\n" + out)
        # tiny noise inside tolerance passes
        rc, out = cr(variant("noise", lambda t: t.__setitem__(
            "output.0", t["output.0"] + np.float32(2e-6))))
        expect(rc == 0, "noise within tolerance rejected:\n" + out)

        def bump(t):
            t["probe.spatial1"].flat[5] += np.float32(1e-3)
        bad_cases = {
            "value": bump,
            "missing": lambda t: t.pop("output.1"),
            "shape": lambda t: t.__setitem__("probe.cross", t["probe.cross"][:, :-1, :].copy()),
            "transposed": lambda t: t.__setitem__("probe.cross", np.ascontiguousarray(
                np.swapaxes(t["probe.cross"], 1, 2))),
            "nan": lambda t: t["output.0"].__setitem__((0, 0, 0, 0), np.nan),
        }
        for name, mut in bad_cases.items():
            rc, out = cr(variant(name, mut))
            expect(rc == 1, "bad result '%s' gave rc %d:\n%s" % (name, rc, out))
        # value error beyond a loose tolerance still fails; within it passes
        rc, _ = cr(variant("value2", bump), "--atol", "1e-2")
        expect(rc == 0, "--atol not honoured")
        # malformed file
        mal = os.path.join(tmp, "malformed.safetensors")
        with open(mal, "wb") as f:
            f.write(struct.pack("<Q", 1000) + b"{}")
        rc, _ = cr(mal)
        expect(rc == 1, "malformed file gave rc %d" % rc)
        # bad usage
        rc, _ = cr(os.path.join(tmp, "nonexistent.safetensors"))
        expect(rc == 2, "missing result file gave rc %d" % rc)
        r = subprocess.run([py, os.path.join(HERE, "check_result.py"), "--manifest", man_path,
                            "--case", "no_such_case", "--result", good],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        expect(r.returncode == 2, "unknown case gave rc %d" % r.returncode)
        r = subprocess.run([py, os.path.join(HERE, "check_result.py")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        expect(r.returncode == 2, "no arguments gave rc %d" % r.returncode)


def main():
    torch.set_num_threads(1)
    failed = [r for r in RESULTS if not r[1]]
    for name, ok, detail in RESULTS:
        if VERBOSE or not ok:
            print("%s %s" % ("ok  " if ok else "FAIL", name))
            if detail:
                print("     " + detail.replace("\n", "\n     "))
    print("self_check: %d checks, %d failed" % (len(RESULTS), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
