#pragma once
/// Normalisation of probe maps to [0, 1] before a colormap is applied
/// (visualization-anchors.md §4.4). The Range that was used is returned with a one-line
/// description for the colourbar label ("natural [0, 1]", "min-max [0.031, 0.982]",
/// "p1-p99 [...]", "symmetric [-m, m]", "fixed [...]"), so GUI and CLI say which mode is active.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

namespace fl::render {

/// How the display range [lo, hi] of a map is chosen.
enum class NormMode {
  Natural,     ///< the probe's natural range (e.g. [0,1] for sigmoid/softmax); unbounded probes
               ///< (natural lo/hi NaN) fall back to MinMax and say so in the description.
  MinMax,      ///< per map: [min, max] of the finite values.
  Percentile,  ///< robust: [pLo-th, pHi-th] percentile of the finite values (linear
               ///< interpolation between order statistics, like numpy's default); values
               ///< outside are clipped.
  Symmetric,   ///< signed data: [-m, m], m = max |x| over finite values; pairs with a
               ///< diverging colormap so that zero is the centre colour.
  Fixed,       ///< explicit [lo, hi], e.g. a shared scale across panels.
};

/// The names accepted by parseNormMode(), in enum order: "natural", "minmax", "percentile",
/// "symmetric", "fixed".
const std::vector<std::string>& normModeNames();
/// The name of a mode.
const std::string& normModeName(NormMode mode);
/// Parses a mode name (case-insensitive; "min-max" is accepted too). Throws
/// fl::Error(ErrorKind::Usage) naming the valid choices.
NormMode parseNormMode(const std::string& name);

/// What computeRange() should do. `lo`/`hi` are used by NormMode::Fixed only; `pLo`/`pHi`
/// (percent, 0 <= pLo < pHi <= 100) by NormMode::Percentile only.
struct NormSpec {
  using Mode = NormMode;
  Mode mode = NormMode::Natural;
  double lo = 0.0;
  double hi = 1.0;
  double pLo = 1.0;
  double pHi = 99.0;
};

/// A display range in the map's raw units, and how it was obtained.
struct Range {
  double lo = 0.0;
  double hi = 1.0;
  /// One line for a colourbar label or a log, e.g. "min-max [0.031, 0.982]"; mentions ignored
  /// NaN/Inf values, a natural-range fallback and a constant map.
  std::string description;
  NormMode mode = NormMode::Natural;  ///< the mode actually used (MinMax after a fallback)
  int64_t finiteCount = 0;            ///< finite values the range was computed from
  int64_t nanCount = 0;               ///< NaN values ignored
  int64_t infCount = 0;               ///< +Inf/-Inf values ignored
  /// True when the data gave no contrast (constant map, or no finite values). For a constant
  /// value v the range is widened to v -/+ 1e-6 max(|v|, 1), so v normalises to 0.5 (no
  /// division by zero) and a colourbar still has an axis.
  bool degenerate = false;
};

/// The `p`-th percentile (0..100) of the finite values of `values` (any shape, any floating or
/// integer dtype, any device), linear interpolation between order statistics (numpy's default).
/// NaN when there are no finite values.
double percentile(const at::Tensor& values, double p);

/// Chooses the display range of `map` (any shape; usually [H,W]) for `spec`. NaN and +/-Inf are
/// ignored (and counted in the Range). `naturalLo`/`naturalHi` are the probe's natural range
/// (ProbeSpec lo/hi; NaN when unbounded). Throws fl::Error(Usage) for an invalid spec (fixed
/// lo >= hi or not finite, percentiles out of order or outside [0, 100]).
Range computeRange(const at::Tensor& map, const NormSpec& spec, double naturalLo, double naturalHi);

/// One range over several maps (the "shared scale across panels" mode, visualization-anchors.md
/// §4.4 item 3): computeRange over all their values together; the description starts "shared ".
Range computeSharedRange(const std::vector<at::Tensor>& maps, const NormSpec& spec,
                         double naturalLo, double naturalHi);

/// Maps a 2-D map [H,W] (leading size-1 dimensions, e.g. [1,1,H,W], are squeezed) to a CV_32FC1
/// H x W image: t = (x - lo) / (hi - lo) clamped to [0, 1]. +Inf -> 1, -Inf -> 0, NaN stays NaN
/// (the only value outside [0, 1]; applyColormap draws it as kNanColor). Throws
/// fl::Error(Input) for a map that is not 2-D and fl::Error(Usage) for a range with
/// hi <= lo or a non-finite bound.
cv::Mat normalise(const at::Tensor& map2d, const Range& range);

}  // namespace fl::render
