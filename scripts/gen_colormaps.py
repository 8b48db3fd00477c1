#!/usr/bin/python3
"""Generate core/render/colormap_data.inc: the 256-entry RGB colormap tables of fl::render.

Run once by a developer with Debian's /usr/bin/python3 and python3-matplotlib
(`apt-get install python3-matplotlib`); the generated file is committed, so matplotlib is NOT a
build dependency of FusionLens.

    /usr/bin/python3 scripts/gen_colormaps.py [OUTPUT]   # default: core/render/colormap_data.inc

Tables:
  viridis, magma, inferno, plasma, cividis, turbo
      matplotlib's ListedColormap data (256 float RGB entries each), taken verbatim from
      matplotlib._cm_listed and rounded to 8 bits (round-half-up of 255*x).
  rdbu (diverging)
      ColorBrewer RdBu, reversed (blue = negative, red = positive, like matplotlib's RdBu_r), from
      matplotlib._cm._RdBu_data (11 ColorBrewer stops), interpolated linearly in sRGB like
      matplotlib's LinearSegmentedColormap. One deliberate change: the ColorBrewer centre stop
      #F7F7F7 is replaced by pure white #FFFFFF, and the two halves are sampled so that entries
      127 and 128 are both exactly the centre; the table is therefore mirror-symmetric around zero
      and a zero value always renders white.
jet and gray are computed in C++ (core/render/colormap.cpp) and are not in this file.
"""

import os
import sys

import matplotlib
from matplotlib import _cm, _cm_listed

HEADER = """\
// GENERATED FILE: do not edit. Regenerate with
//   /usr/bin/python3 scripts/gen_colormaps.py
// (Debian's python3 + python3-matplotlib {mpl_version}; matplotlib is not a build dependency).
//
// 256-entry 8-bit RGB lookup tables (R, G, B order; NOT OpenCV's BGR), entry = round(255 * x)
// of the published floating-point data.
//
// Sources and licences:
// * viridis, magma, inferno, plasma: Nathaniel J. Smith and Stefan van der Walt (and, for
//   viridis, Eric Firing), designed for matplotlib 2.0 (https://bids.github.io/colormap/).
//   Released under the CC0 1.0 public-domain dedication by their authors (header of
//   BIDS/colormap's colormaps.py, the file matplotlib's data came from). Data taken from
//   matplotlib._cm_listed.
// * cividis: Jamie R. Nuñez, Christopher R. Anderton, Ryan S. Renslow, "Optimizing colormaps
//   with consideration for color vision deficiency to enable accurate interpretation of
//   scientific data", PLOS ONE 13(7): e0199239 (2018), doi:10.1371/journal.pone.0199239.
//   Contributed to matplotlib by its first author (matplotlib PR #9871, matplotlib 2.2);
//   matplotlib states no separate licence for it, so it is distributed under matplotlib's own
//   (PSF-based, BSD-compatible) licence. Data taken from matplotlib._cm_listed.
// * turbo: Anton Mikhailov, Google LLC (2019), "Turbo, An Improved Rainbow Colormap for
//   Visualization" (Google Research blog, 2019-08-20). The original reference data is
//   Copyright 2019 Google LLC, SPDX-License-Identifier: Apache-2.0. The author contributed the
//   table to matplotlib himself (matplotlib PR #15275, matplotlib 3.3), where it is not listed
//   separately on matplotlib's licence page (matplotlib issue #30651). Data taken from
//   matplotlib._cm_listed; we credit it as Apache-2.0, Google LLC.
// * rdbu (diverging): ColorBrewer "RdBu" by Cynthia A. Brewer (https://colorbrewer2.org/),
//   Apache-style ColorBrewer licence (matplotlib's LICENSE_COLORBREWER; ColorBrewer 2.0 is
//   Apache-2.0), 11 stops from matplotlib._cm._RdBu_data, reversed (blue negative, red positive),
//   linear sRGB interpolation, centre stop #F7F7F7 replaced by #FFFFFF and entries 127 and 128
//   both set to the centre, so the table is mirror-symmetric and zero is white.
"""


def to_u8(x):
    v = int(255.0 * float(x) + 0.5)
    return max(0, min(255, v))


def listed(name):
    data = getattr(_cm_listed, "_%s_data" % name)
    if len(data) != 256:
        raise SystemExit("%s: expected 256 entries, got %d" % (name, len(data)))
    return [tuple(to_u8(c) for c in rgb) for rgb in data]


def lerp_stops(stops, s):
    """Linear interpolation of equally spaced stops at s in [0, 1]."""
    n = len(stops) - 1
    pos = s * n
    i = min(int(pos), n - 1)
    f = pos - i
    return tuple(stops[i][c] * (1.0 - f) + stops[i + 1][c] * f for c in range(3))


def rdbu_white_centre():
    stops = [tuple(rgb) for rgb in reversed(_cm._RdBu_data)]  # blue -> red
    if len(stops) != 11:
        raise SystemExit("RdBu: expected 11 ColorBrewer stops")
    stops[5] = (1.0, 1.0, 1.0)
    table = []
    for k in range(256):
        if k < 128:
            s = 0.5 * k / 127.0
        else:
            s = 0.5 + 0.5 * (k - 128) / 127.0
        table.append(tuple(to_u8(c) for c in lerp_stops(stops, s)))
    return table


def emit(out, cname, table):
    out.write("static const unsigned char %s[256][3] = {\n" % cname)
    for i in range(0, 256, 4):
        row = ", ".join("{%3d, %3d, %3d}" % t for t in table[i:i + 4])
        out.write("    %s,\n" % row)
    out.write("};\n\n")


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "core", "render",
                                                              "colormap_data.inc")
    tables = [
        ("kViridisLut", listed("viridis")),
        ("kInfernoLut", listed("inferno")),
        ("kMagmaLut", listed("magma")),
        ("kPlasmaLut", listed("plasma")),
        ("kCividisLut", listed("cividis")),
        ("kTurboLut", listed("turbo")),
        ("kRdBuLut", rdbu_white_centre()),
    ]
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(HEADER.format(mpl_version=matplotlib.__version__))
        out.write("\n")
        for cname, table in tables:
            emit(out, cname, table)
    print("wrote %s (%d tables, matplotlib %s)" % (path, len(tables), matplotlib.__version__))


if __name__ == "__main__":
    main()
