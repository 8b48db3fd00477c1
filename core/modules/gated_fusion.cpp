#include "core/modules/gated_fusion.h"

#include <ATen/ATen.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

GatedFusionImpl::GatedFusionImpl(const GatedFusionOptions& options) : options(options) { reset(); }

void GatedFusionImpl::reset() {
  const int64_t dim = options.dim();
  fc1 = register_module("fc1", nn::Linear(nn::LinearOptions(dim, dim).bias(true)));
  fc2 = register_module("fc2", nn::Linear(nn::LinearOptions(dim, dim).bias(true)));
}

torch::Tensor GatedFusionImpl::forward(const torch::Tensor& x1, const torch::Tensor& x2) {
  // NCHW -> NHWC so the Linear layers act on channels, as in the seed.
  const auto h1 = x1.permute({0, 2, 3, 1});
  const auto h2 = x2.permute({0, 2, 3, 1});
  const auto z = torch::sigmoid(fc1->forward(h1) + fc2->forward(h2));
  const auto out = z * h1 + (1 - z) * h2;
  if (probe::active()) probe::record("gate", z.permute({0, 3, 1, 2}));
  return out.permute({0, 3, 1, 2}).contiguous();
}

ModuleDescriptor gatedFusionDescriptor() {
  ModuleDescriptor d;
  d.id = "gated-fusion";
  d.displayName = "Gated fusion (GMAN gatedFusion)";
  d.category = ModuleCategory::Fusion;
  d.summary = "Per-pixel, per-channel sigmoid gate z mixes x1 (weight z) and x2 (weight 1 - z)";
  d.citation =
      "Zheng et al., GMAN: A Graph Multi-Attention Network for Traffic Prediction, AAAI 2020, "
      "arXiv:1911.08415 (seed 002 simplified gatedFusion)";
  d.inputs = {{"x1", "first feature map [B,C,H,W]"},
              {"x2", "second feature map [B,C,H,W], same shape"}};
  d.outputs = {"output"};
  d.params = {};
  d.probes = {desc::probe("gate", ProbeKind::Gate, "[B,C,H,W]", 0, 1,
                          "gate z on x1; x2 is weighted by 1 - z")};
  d.check = [d](const Params&, const std::vector<Shape>& shapes) {
    return desc::checkNchwInputs(d, shapes);
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    // two inputs, two Linear outputs, gate, output (+ contiguous copy), probe copy
    return desc::f32Bytes(9 * desc::numel(shapes[0]));
  };
  d.make = [](const Params&, const std::vector<Shape>& shapes) {
    GatedFusion m{GatedFusionOptions(shapes[0][1])};
    return makeInstance(m, [](GatedFusion& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0], in[1])};
    });
  };
  return d;
}

}  // namespace fl
