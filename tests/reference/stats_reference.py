#!/usr/bin/python3
"""Independent reference values for core/analysis/statistics (fl::analysis).

usage: /usr/bin/python3 tests/reference/stats_reference.py OUT.json

Writes random cases (fixed seed, so the same file every time) with the values each statistic
should give, for tests/core/test_statistics.cpp to compare with at 1e-9.  numpy only, and on
purpose computed another way than the C++:

* entropy: numpy's pairwise sums over p = v / sum(v), no rescaling;
* Gini: the classic mean-absolute-difference form sum_ij |c_i - c_j| / (2 N sum c), which
  equals Hurley & Rickard's sorted form (checked here on every case);
* Spearman: ranks by counting (rank_i = #{x_j < x_i} + (#{x_j == x_i} + 1) / 2), no sort,
  then np.corrcoef;
* top-k IoU: k from exact rational arithmetic, membership by counting how many elements come
  before each one in the (value descending, index ascending) order, no sort.

Each case: "shape" / "shape_a", "shape_b" (row-major), "dtype" (float64, float32 or int64; the
values are already representable in it), "values" / "a", "b", "expected" (null where the
statistic is undefined: a constant ranking for Spearman).
"""

import json
import math
import sys
from fractions import Fraction

import numpy as np


def entropy(v):
    v = np.asarray(v, dtype=np.float64).ravel()
    n = v.size
    if n == 1:
        return 0.0
    p = v / v.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(n))


def gini(v):
    c = np.abs(np.asarray(v, dtype=np.float64).ravel())
    s = c.sum()
    if s == 0:
        return 0.0
    n = c.size
    g = float(np.abs(c[:, None] - c[None, :]).sum() / (2.0 * n * s))
    # Hurley & Rickard 2009's definition, to make sure the two forms agree.
    cs = np.sort(c)
    k = np.arange(1, n + 1)
    hr = 1.0 - 2.0 * float(((cs / s) * ((n - k + 0.5) / n)).sum())
    assert abs(g - hr) < 1e-12, (g, hr)
    return g


def ranks(x):
    x = np.asarray(x, dtype=np.float64).ravel()
    less = (x[None, :] < x[:, None]).sum(axis=1)
    equal = (x[None, :] == x[:, None]).sum(axis=1)
    return less + (equal + 1) / 2.0


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    if ra.size < 2 or np.all(ra == ra[0]) or np.all(rb == rb[0]):
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def top_mask(x, k):
    x = np.asarray(x, dtype=np.float64).ravel()
    idx = np.arange(x.size)
    greater = (x[None, :] > x[:, None]).sum(axis=1)
    earlier_ties = ((x[None, :] == x[:, None]) & (idx[None, :] < idx[:, None])).sum(axis=1)
    return (greater + earlier_ties) < k


def topk_iou(a, b, percent):
    n = np.asarray(a).size
    k = max(1, math.ceil(Fraction(percent) * n / 100))
    ma, mb = top_mask(a, k), top_mask(b, k)
    assert ma.sum() == k and mb.sum() == k
    return float((ma & mb).sum() / (ma | mb).sum())


SHAPES = [[1], [2], [3], [7], [16], [64], [5, 1, 1], [7, 9], [1, 12, 5, 5], [2, 3, 11], [400]]


def as_dtype(v, dtype):
    if dtype == "float32":
        return v.astype(np.float32).astype(np.float64)
    if dtype == "int64":
        return np.rint(v).astype(np.int64)
    return v.astype(np.float64)


def values_out(v):
    return [int(x) for x in v.ravel()] if v.dtype == np.int64 else [float(x) for x in v.ravel()]


def make(rng):
    out = {"entropy": [], "gini": [], "spearman": [], "topk": []}

    for i, shape in enumerate(SHAPES * 3):
        n = int(np.prod(shape))
        kind = i % 5
        dtype = ["float64", "float32", "float64", "int64", "float64"][kind]
        if kind == 0:
            v = rng.random(n)
        elif kind == 1:
            v = rng.exponential(2.0, n)
        elif kind == 2:  # mostly zero: low entropy, high sparsity
            v = rng.random(n) * (rng.random(n) < 0.2)
        elif kind == 3:
            v = rng.integers(0, 4, n).astype(np.float64)
        else:  # one dominant mass over a small floor
            v = rng.random(n) * 1e-3
            v[rng.integers(0, n)] = 50.0
        v = as_dtype(v, dtype)
        if v.sum() > 0:
            out["entropy"].append({"shape": shape, "dtype": dtype, "values": values_out(v),
                                   "expected": entropy(v)})
        signed = as_dtype(v * rng.choice([-1.0, 1.0], n), dtype)
        out["gini"].append({"shape": shape, "dtype": dtype, "values": values_out(signed),
                            "expected": gini(signed)})
    for shape in ([4], [3, 5], [64]):  # constant and all-zero vectors
        n = int(np.prod(shape))
        for c in (0.0, -2.5, 1.0):
            v = np.full(n, c)
            out["gini"].append({"shape": shape, "dtype": "float64", "values": values_out(v),
                                "expected": gini(v)})

    for i, shape in enumerate(SHAPES * 3):
        n = int(np.prod(shape))
        kind = i % 5
        dtype = ["float64", "float32", "int64", "float64", "float64"][kind]
        a = rng.normal(size=n)
        if kind == 0:
            b = rng.normal(size=n)
        elif kind == 1:
            b = a + 0.5 * rng.normal(size=n)
        elif kind == 2:  # many ties
            a = rng.integers(0, 5, n).astype(np.float64)
            b = rng.integers(0, 3, n).astype(np.float64)
        elif kind == 3:
            b = -a ** 3 + 0.1 * rng.normal(size=n)
        else:  # ties in one tensor only
            b = np.round(a * 2.0) / 2.0
        a, b = as_dtype(a, dtype), as_dtype(b, dtype)
        shape_b = [n] if len(shape) > 1 else shape  # same numel, another shape
        out["spearman"].append({"shape_a": shape, "shape_b": shape_b, "dtype": dtype,
                                "a": values_out(a), "b": values_out(b),
                                "expected": spearman(a, b)})
    const = np.full(6, 3.0)
    out["spearman"].append({"shape_a": [6], "shape_b": [2, 3], "dtype": "float64",
                            "a": values_out(const), "b": values_out(rng.normal(size=6)),
                            "expected": spearman(const, np.arange(6.0))})

    percents = [0.5, 1, 5, 10, 12.5, 25, 33, 50, 70, 99, 100]
    for i, shape in enumerate(SHAPES * 4):
        n = int(np.prod(shape))
        kind = i % 4
        dtype = ["float64", "float32", "int64", "float64"][kind]
        a = rng.random(n)
        if kind == 0:
            b = rng.random(n)
        elif kind == 1:
            b = a + 0.3 * rng.random(n)
        elif kind == 2:  # heavy ties, broken by index
            a = rng.integers(0, 3, n).astype(np.float64)
            b = rng.integers(0, 3, n).astype(np.float64)
        else:
            b = np.where(rng.random(n) < 0.5, a, rng.random(n))
        a, b = as_dtype(a, dtype), as_dtype(b, dtype)
        percent = percents[i % len(percents)]
        shape_b = list(reversed(shape))
        out["topk"].append({"shape_a": shape, "shape_b": shape_b, "dtype": dtype,
                            "a": values_out(a), "b": values_out(b), "percent": percent,
                            "expected": topk_iou(a, b, percent)})
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cases = make(np.random.default_rng(20240611))
    with open(sys.argv[1], "w") as f:
        json.dump(cases, f, allow_nan=False)


if __name__ == "__main__":
    main()
