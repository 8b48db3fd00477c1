#!/usr/bin/python3
"""Physical lower bounds of each module's forward: the one place their formulas live.

From the maths in /work/shared/spec/modules.md (the seeds' forwards), default parameters, float32:

  flops  dense products only (convolutions, linear layers, matrix products; 2 per multiply-add):
         what no implementation can skip. Element-wise work, pooling and softmax are left out
         (they are bandwidth work, counted in bytes).
  bytes  compulsory memory traffic: every input read once and every output written once (plus
         the weights). Intermediates are left out: a perfect implementation keeps them in cache.

bound = max(flops / GEMM rate, bytes / memory bandwidth), with both rates measured on this
machine in the same bench run (measure_rates: a 1024^2 float32 torch.mm and a 256 MiB copy).
A module at 1.0x its bound runs as fast as the hardware allows; the ratio FusionLens / bound
says how much room is left.

  /usr/bin/python3 bench/bounds.py [--shape 1,64,56,56] [--threads 1]   prints the table
"""

import argparse
import math
import time

F32 = 4


def _conv(b, cin, cout, k, n_out, groups=1):
    """FLOPs of a k x k convolution (k may be a (kh, kw) pair) producing n_out pixels."""
    kk = k[0] * k[1] if isinstance(k, tuple) else k * k
    return 2.0 * b * cout * (cin // groups) * kk * n_out


def _io(b, c, n, inputs, outputs):
    return float(F32 * b * c * n * (inputs + outputs))


def work(module, shape, cam=True):
    """{"flops", "bytes", "note"} of one forward of `module` at input `shape` [B,C,H,W] with its
    default parameters (every input of a multi-input module has `shape`). `cam`: cmgm also
    computes its second output (the [B,8,N,N] map from the full attention matrix)."""
    b, c, h, w = shape
    n = h * w
    if module == "se":  # GAP, C -> C/16 -> C on the pooled vector, x * y
        r = c // 16
        return {"flops": 2.0 * b * 2 * c * r, "bytes": _io(b, c, n, 1, 1)}
    if module == "eca":  # conv1d k=7 on the max and the mean descriptors
        return {"flops": 2.0 * b * 2 * c * 7, "bytes": _io(b, c, n, 1, 1)}
    if module == "spatial-attention":  # conv k x k, 2 -> 1 over [max_c, mean_c]; x * s
        return {"flops": _conv(b, 2, 1, 7, n), "bytes": _io(b, c, n, 1, 1)}
    if module == "cbam":  # channel MLP (C/16) on two pooled vectors, then a 7x7 2 -> 1 map
        r = c // 16
        return {"flops": 2.0 * b * 2 * 2 * c * r + _conv(b, 2, 1, 7, n), "bytes": _io(b, c, n, 1, 1)}
    if module == "cbam-joint":  # se (C/8) on two pools, 7x7 map, joint MLP over C+HW; 2 outputs
        r = c // 8
        return {"flops": 2.0 * b * 2 * 2 * c * r + _conv(b, 2, 1, 7, n) + 2.0 * b * 2 * (c + n) * r,
                "bytes": _io(b, c, n, 1, 2)}
    if module in ("ms-cam", "aff", "iaff"):  # L: 1x1 C -> C/4 -> C over N (G on a pooled vector)
        inter = c // 4
        local = 2.0 * b * n * 2 * c * inter + 2.0 * b * 2 * c * inter
        passes = 2 if module == "iaff" else 1
        ins = 1 if module == "ms-cam" else 2
        return {"flops": passes * local, "bytes": _io(b, c, n, ins, 1)}
    if module == "gated-fusion":  # two Linear(C, C) over the B*N tokens
        return {"flops": 2 * 2.0 * b * n * c * c, "bytes": _io(b, c, n, 2, 1)}
    if module == "msf":  # four inputs; 1x1 C -> C on the pooled vectors and on the weighted sum
        return {"flops": 4 * 2.0 * b * c * c + 2.0 * b * n * c * c, "bytes": _io(b, c, n, 4, 1)}
    if module == "mfe":  # four 3x3 C -> C convs (dilations 1, 2, 4, 8), SE 1x1s, a 1x1 C -> C
        return {"flops": 4 * _conv(b, c, c, 3, n) + 4 * 2.0 * b * c * c + 2.0 * b * n * c * c,
                "bytes": _io(b, c, n, 1, 1)}
    if module == "safm":  # depthwise 3x3 on C/4 channels per level (level i at N/4^i), 1x1 C -> C
        levels = 4
        cc = c // levels
        dw = sum(_conv(b, cc, cc, 3, n / 4 ** i, groups=cc) for i in range(levels))
        return {"flops": dw + 2.0 * b * n * c * c, "bytes": _io(b, c, n, 1, 1)}
    if module == "cafm":  # channel MLPs (hidden 64) on pools, softmax(cross) @ f over N, twice
        mlp = 4 * 2.0 * b * 2 * c * 64
        mix = 2 * 2.0 * b * c * c * n
        spatial = 2 * (_conv(b, 2, 1, 3, n) + _conv(b, 1, 1, 3, n))
        return {"flops": mlp + mix + spatial, "bytes": _io(b, c, n, 2, 2)}
    if module == "osra":  # heads 8, sr 2: q 1x1, SR (dw 5x5 stride 2, dw 1x1), local dw 3x3, kv
        sr = 2
        hk, wk = math.ceil(h / sr), math.ceil(w / sr)
        nk = hk * wk
        flops = (2.0 * b * n * c * c                        # q
                 + _conv(b, c, c, sr + 3, nk, groups=c)     # sr depthwise
                 + 2.0 * b * c * nk                         # depthwise 1x1
                 + _conv(b, c, c, 3, nk, groups=c)          # local_conv
                 + 2.0 * b * nk * c * 2 * c                 # kv
                 + 2 * 2.0 * b * n * nk * c)                # q k^T and attn v over all heads
        return {"flops": flops, "bytes": _io(b, c, n, 1, 1)}
    if module == "cmgm":  # k, qv, proj linears; attention N x N; conv2 (two 3x3 C -> C); cam
        heads = 8
        flops = (2.0 * b * n * c * c + 2.0 * b * n * c * 2 * c + 2.0 * b * n * c * c
                 + 2 * 2.0 * b * n * n * c
                 + 2 * _conv(b, c, c, 3, n))
        nbytes = _io(b, c, n, 2, 1)
        if cam:  # a 3x3 heads -> heads conv over the N x N "image", and its [B,8,N,N] output
            flops += _conv(b, heads, heads, 3, n * n)
            nbytes += float(F32 * b * heads * n * n)
        return {"flops": flops, "bytes": nbytes}
    raise KeyError("bounds.py has no formula for module '%s'" % module)


def bound_ms(w, gemm_gflops, bandwidth_gbs):
    """The bound of work `w` in ms, and which resource sets it ("compute" or "memory")."""
    t_flops = w["flops"] / (gemm_gflops * 1e9)
    t_bytes = w["bytes"] / (bandwidth_gbs * 1e9)
    return max(t_flops, t_bytes) * 1e3, ("compute" if t_flops >= t_bytes else "memory")


def measure_rates(threads):
    """This machine's float32 GEMM rate (GFLOP/s: a 1024^2 torch.mm, best of 20) and memory
    bandwidth (GB/s read + written: a 256 MiB tensor copied, best of 10) at `threads`."""
    import torch
    torch.set_num_threads(threads)
    a = torch.randn(1024, 1024)
    bm = torch.randn(1024, 1024)
    out = torch.empty(1024, 1024)
    torch.mm(a, bm, out=out)
    best = float("inf")
    for _ in range(20):
        t = time.perf_counter()
        torch.mm(a, bm, out=out)
        best = min(best, time.perf_counter() - t)
    gemm = 2.0 * 1024 ** 3 / best / 1e9
    src = torch.ones(64 * 1024 * 1024)  # 256 MiB
    dst = torch.empty_like(src)
    dst.copy_(src)
    best = float("inf")
    for _ in range(10):
        t = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t)
    bandwidth = 2.0 * src.numel() * 4 / best / 1e9
    return {"threads": threads, "gemm_gflops": gemm, "bandwidth_gbs": bandwidth}


MODULES = ("se", "eca", "spatial-attention", "cbam", "cbam-joint", "ms-cam", "aff", "iaff",
           "gated-fusion", "msf", "mfe", "safm", "cafm", "osra", "cmgm")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", default="1,64,56,56")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    shape = [int(v) for v in args.shape.split(",")]
    rates = measure_rates(args.threads)
    print("GEMM %.1f GFLOP/s, bandwidth %.1f GB/s at %d thread(s)"
          % (rates["gemm_gflops"], rates["bandwidth_gbs"], args.threads))
    for m in MODULES:
        w = work(m, shape)
        ms, by = bound_ms(w, rates["gemm_gflops"], rates["bandwidth_gbs"])
        print("%-18s %10.4f GFLOP %10.2f MB  bound %9.3f ms (%s)" % (m, w["flops"] / 1e9, w["bytes"] / 1e6, ms, by))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
