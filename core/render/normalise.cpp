#include "core/render/normalise.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/common/error.h"

namespace fl::render {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "%.4g": short, but keeps enough digits for a colourbar label.
std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string interval(double lo, double hi) { return "[" + num(lo) + ", " + num(hi) + "]"; }

// The values of `t` as a flat CPU float64 tensor.
at::Tensor flatDouble(const at::Tensor& t) {
  if (!t.defined()) throwInput("render: the map is an undefined tensor");
  if (t.is_complex()) throwInput("render: complex maps cannot be normalised");
  return t.detach().to(at::kCPU).to(at::kDouble).reshape({-1}).contiguous();
}

// The finite values of a flat double tensor (in no order), their extremes, and NaN/Inf counts.
// Not sorted: a map's range needs its min and max, or two order statistics (percentile mode),
// and a full sort of a 512x480 map took ~20 ms of the heatmap's render (issue 15).
struct Finite {
  std::vector<double> values;
  double min = kNaN, max = kNaN;
  int64_t nan = 0;
  int64_t inf = 0;
};

Finite finiteValues(const at::Tensor& flat) {
  Finite f;
  const double* p = flat.data_ptr<double>();
  const int64_t n = flat.numel();
  f.values.reserve(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double v = p[i];
    if (std::isnan(v))
      ++f.nan;
    else if (std::isinf(v))
      ++f.inf;
    else
      f.values.push_back(v);
  }
  if (!f.values.empty()) {
    const auto [mn, mx] = std::minmax_element(f.values.begin(), f.values.end());
    f.min = *mn;
    f.max = *mx;
  }
  return f;
}

// The p-th percentile (linear interpolation between the two nearest ranks) of `values`, which
// it reorders: the same number a full sort would give, from two order statistics.
double percentileOf(std::vector<double>& values, double p) {
  if (values.empty()) return kNaN;
  const double pos = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
  const auto i = static_cast<size_t>(std::floor(pos));
  const double frac = pos - static_cast<double>(i);
  const auto at = values.begin() + static_cast<std::ptrdiff_t>(i);
  std::nth_element(values.begin(), at, values.end());
  const double lo = *at;
  if (i + 1 >= values.size()) return lo;
  const double next = *std::min_element(at + 1, values.end());  // rank i + 1
  return lo + (next - lo) * frac;
}

void validate(const NormSpec& spec) {
  if (spec.mode == NormMode::Fixed) {
    if (!std::isfinite(spec.lo) || !std::isfinite(spec.hi) || !(spec.lo < spec.hi))
      throwUsage("fixed normalisation needs finite lo < hi, got lo=" + num(spec.lo) +
                 " hi=" + num(spec.hi));
  }
  if (spec.mode == NormMode::Percentile) {
    if (!(spec.pLo >= 0.0 && spec.pHi <= 100.0 && spec.pLo < spec.pHi))
      throwUsage("percentile normalisation needs 0 <= pLo < pHi <= 100, got pLo=" + num(spec.pLo) +
                 " pHi=" + num(spec.pHi));
  }
}

Range rangeOf(Finite& f, const NormSpec& spec, double naturalLo, double naturalHi) {
  validate(spec);
  Range r;
  r.finiteCount = static_cast<int64_t>(f.values.size());
  r.nanCount = f.nan;
  r.infCount = f.inf;
  r.mode = spec.mode;
  const bool empty = f.values.empty();
  std::string note;

  switch (spec.mode) {
    case NormMode::Natural:
      if (std::isfinite(naturalLo) && std::isfinite(naturalHi) && naturalLo < naturalHi) {
        r.lo = naturalLo;
        r.hi = naturalHi;
        r.description = "natural " + interval(r.lo, r.hi);
        break;
      }
      r.mode = NormMode::MinMax;
      note = " (no natural range: unbounded values, fell back to min-max)";
      [[fallthrough]];
    case NormMode::MinMax:
      if (!empty) {
        r.lo = f.min;
        r.hi = f.max;
      }
      r.description = "min-max";
      break;
    case NormMode::Percentile:
      if (!empty) {
        r.lo = percentileOf(f.values, spec.pLo);
        r.hi = percentileOf(f.values, spec.pHi);
      }
      r.description = "p" + num(spec.pLo) + "-p" + num(spec.pHi);
      break;
    case NormMode::Symmetric:
      if (!empty) {
        const double m = std::max(std::fabs(f.min), std::fabs(f.max));
        r.lo = -m;
        r.hi = m;
      }
      r.description = "symmetric";
      break;
    case NormMode::Fixed:
      r.lo = spec.lo;
      r.hi = spec.hi;
      r.description = "fixed " + interval(r.lo, r.hi);
      break;
  }

  const bool dataDerived = r.mode != NormMode::Natural && r.mode != NormMode::Fixed;
  if (dataDerived) {
    if (empty) {
      r.lo = r.mode == NormMode::Symmetric ? -1.0 : 0.0;
      r.hi = 1.0;
      r.degenerate = true;
      r.description += " " + interval(r.lo, r.hi) + " (no finite values)";
    } else if (!(r.hi > r.lo)) {
      const double v = r.lo;
      const double half = 1e-6 * std::max(std::fabs(v), 1.0);
      r.lo = v - half;
      r.hi = v + half;
      r.degenerate = true;
      r.description += " (constant map: all values " + num(v) + ", no contrast)";
    } else {
      r.description += " " + interval(r.lo, r.hi);
    }
  }
  r.description += note;
  if (f.nan > 0 || f.inf > 0) {
    r.description += "; ignored";
    if (f.nan > 0) r.description += " " + std::to_string(f.nan) + " NaN";
    if (f.nan > 0 && f.inf > 0) r.description += " and";
    if (f.inf > 0) r.description += " " + std::to_string(f.inf) + " Inf";
  }
  return r;
}

}  // namespace

const std::vector<std::string>& normModeNames() {
  static const std::vector<std::string> kNames = {"natural", "minmax", "percentile", "symmetric",
                                                  "fixed"};
  return kNames;
}

const std::string& normModeName(NormMode mode) {
  return normModeNames().at(static_cast<size_t>(mode));
}

NormMode parseNormMode(const std::string& name) {
  std::string key = lower(name);
  if (key == "min-max") key = "minmax";
  const auto& names = normModeNames();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == key) return static_cast<NormMode>(i);
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  throwUsage("unknown normalisation '" + name + "' (choose one of: " + list + ")");
}

double percentile(const at::Tensor& values, double p) {
  Finite f = finiteValues(flatDouble(values));
  return percentileOf(f.values, p);
}

Range computeRange(const at::Tensor& map, const NormSpec& spec, double naturalLo,
                   double naturalHi) {
  Finite f = finiteValues(flatDouble(map));
  return rangeOf(f, spec, naturalLo, naturalHi);
}

Range computeSharedRange(const std::vector<at::Tensor>& maps, const NormSpec& spec,
                         double naturalLo, double naturalHi) {
  if (maps.empty()) throwInput("shared normalisation: no maps given");
  std::vector<at::Tensor> flats;
  flats.reserve(maps.size());
  for (const auto& m : maps) flats.push_back(flatDouble(m));
  Finite f = finiteValues(at::cat(flats));
  Range r = rangeOf(f, spec, naturalLo, naturalHi);
  r.description = "shared " + r.description;
  return r;
}

cv::Mat normalise(const at::Tensor& map2d, const Range& range) {
  if (!map2d.defined()) throwInput("normalise: the map is an undefined tensor");
  at::Tensor m = map2d.detach();
  while (m.dim() > 2 && m.size(0) == 1) m = m.squeeze(0);
  if (m.dim() != 2)
    throwInput("normalise: expected a 2-D map [H,W], got " + std::to_string(map2d.dim()) +
               " dimensions");
  if (!std::isfinite(range.lo) || !std::isfinite(range.hi) || !(range.hi > range.lo))
    throwUsage("normalise: invalid range " + interval(range.lo, range.hi) +
               " (needs finite lo < hi)");
  const at::Tensor x = m.to(at::kCPU).to(at::kDouble);
  // clamp() keeps NaN as NaN and sends +/-Inf to the bounds.
  const at::Tensor t =
      ((x - range.lo) / (range.hi - range.lo)).clamp(0.0, 1.0).to(at::kFloat).contiguous();
  const int rows = static_cast<int>(t.size(0));
  const int cols = static_cast<int>(t.size(1));
  cv::Mat out(rows, cols, CV_32FC1);
  if (rows > 0 && cols > 0)
    std::copy_n(t.data_ptr<float>(), static_cast<size_t>(rows) * cols, out.ptr<float>(0));
  return out;
}

}  // namespace fl::render
