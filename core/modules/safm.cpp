#include "core/modules/safm.h"

#include <ATen/ATen.h>
#include <torch/nn/functional/upsampling.h>

#include <algorithm>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

SafmImpl::SafmImpl(const SafmOptions& options) : options(options) { reset(); }

void SafmImpl::reset() {
  const int64_t dim = options.dim();
  const int64_t chunk = dim / options.n_levels();
  mfr = register_module("mfr", nn::ModuleList());
  for (int64_t i = 0; i < options.n_levels(); ++i) {
    mfr->push_back(nn::Conv2d(nn::Conv2dOptions(chunk, chunk, 3).padding(1).groups(chunk)));
  }
  aggr = register_module("aggr", nn::Conv2d(nn::Conv2dOptions(dim, dim, 1)));
}

torch::Tensor SafmImpl::forward(const torch::Tensor& x) {
  const int64_t n = options.n_levels();
  const int64_t h = x.size(2), w = x.size(3);
  const auto chunks = x.chunk(n, 1);
  std::vector<torch::Tensor> levels;
  for (int64_t i = 0; i < n; ++i) {
    auto& conv = *mfr[i]->as<nn::Conv2d>();
    if (i == 0) {
      levels.push_back(conv.forward(chunks[0]));
      continue;
    }
    auto s = std::get<0>(at::adaptive_max_pool2d(chunks[i], {h >> i, w >> i}));
    s = conv.forward(s);
    // Legacy nearest (src = floor(dst * in / out)), as F.interpolate(mode='nearest').
    s = nn::functional::interpolate(s, nn::functional::InterpolateFuncOptions()
                                           .size(std::vector<int64_t>{h, w})
                                           .mode(torch::kNearest));
    levels.push_back(s);
  }
  auto m = aggr->forward(torch::cat(levels, 1));
  at::gelu_(m);  // exact (erf) GELU, in place on the fresh conv output
  if (probe::active()) probe::record("modulation", m);  // a copy: m may be reused below
  return m.mul_(x);
}

ModuleDescriptor safmDescriptor() {
  ModuleDescriptor d;
  d.id = "safm";
  d.displayName = "SAFM (spatially-adaptive feature modulation)";
  d.category = ModuleCategory::Spatial;
  d.summary =
      "Multi-scale depthwise features (max-pooled per channel group) aggregated into a "
      "modulation map M that multiplies x";
  d.citation =
      "Sun et al., Spatially-Adaptive Feature Modulation for Efficient Image Super-Resolution "
      "(SAFMN), ICCV 2023, arXiv:2302.13800";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {desc::intParam("n_levels", 4, 1, 16,
                             "number of scales; C must be divisible by it and H, W >= "
                             "2^(n_levels-1)")};
  d.probes = {desc::unboundedProbe("modulation", ProbeKind::FeatureMap, "[B,C,H,W]",
                                   "modulation map M = GELU(aggr(...)); unbounded (>= -0.17), "
                                   "use a diverging or per-channel scale")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (!err.empty()) return err;
    const int64_t n = p.getInt("n_levels");
    const int64_t c = shapes[0][1], h = shapes[0][2], w = shapes[0][3];
    // The largest n_levels <= n that fits these channels and this size (1 always does).
    int64_t fit = n;
    while (fit > 1 && (c % fit != 0 || (int64_t{1} << (fit - 1)) > std::min(h, w))) --fit;
    if (c % n != 0) {
      return Problem("safm: " + std::to_string(c) + " channels are not divisible by n_levels " +
                         std::to_string(n) + "; n_levels must divide " + std::to_string(c) +
                         ", or the input needs a multiple of n_levels channels",
                     parameterSubject("n_levels"), setParameter("n_levels", std::to_string(fit)));
    }
    const int64_t need = int64_t{1} << (n - 1);
    if (h < need || w < need) {
      return Problem("safm: input " + shapeText(shapes[0]) + " is too small for n_levels " +
                         std::to_string(n) + ": H and W must be >= " + std::to_string(need) +
                         " (2^(n_levels-1)); a lower n_levels fits, or an input upsampled to at "
                         "least " + std::to_string(need) + "x" + std::to_string(need),
                     parameterSubject("n_levels"), setParameter("n_levels", std::to_string(fit)));
    }
    return {};
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    // input, chunk levels (pooled and upsampled), cat, aggr, GELU, output, probe copy
    return desc::f32Bytes(8 * desc::numel(shapes[0]));
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t dim = shapes[0][1], n = p.getInt("n_levels"), chunk = dim / n;
    desc::StateList s;
    for (int64_t i = 0; i < n; ++i) s.conv2d("mfr." + std::to_string(i), chunk, chunk, 3, true, chunk);
    return s.conv2d("aggr", dim, dim, 1).list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Safm m(SafmOptions(shapes[0][1]).n_levels(p.getInt("n_levels")));
    return makeInstance(m, [](Safm& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
