#include "core/modules/spatial_attention.h"

#include <ATen/ATen.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

torch::Tensor maxMeanPool(const torch::Tensor& x) {
  const auto max = std::get<0>(x.max(1, /*keepdim=*/true));
  const auto mean = x.mean(1, /*keepdim=*/true);
  return torch::cat({max, mean}, 1);
}

SpatialAttentionImpl::SpatialAttentionImpl(const SpatialAttentionOptions& options)
    : options(options) {
  reset();
}

void SpatialAttentionImpl::reset() {
  const int64_t k = options.kernel_size();
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 1, k).padding(k / 2)));
}

torch::Tensor SpatialAttentionImpl::forward(const torch::Tensor& x) {
  const auto s = torch::sigmoid(conv->forward(maxMeanPool(x)));
  if (probe::active()) probe::record("spatial_weight", s);
  return x * s;
}

ModuleDescriptor spatialAttentionDescriptor() {
  ModuleDescriptor d;
  d.id = "spatial-attention";
  d.displayName = "Spatial attention (CBAM spatial gate)";
  d.category = ModuleCategory::Spatial;
  d.summary = "A per-pixel weight from a conv over channel-wise max and mean maps";
  d.citation = "Woo et al., CBAM, ECCV 2018, arXiv:1807.06521 (seed 004 SpatialAttention)";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {desc::intParam("kernel_size", 7, 1, 255, "odd conv kernel size (padding k/2)")};
  d.probes = {desc::probe("spatial_weight", ProbeKind::SpatialMap, "[B,1,H,W]", 0, 1,
                          "per-pixel sigmoid weight s")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) {
    std::string err = desc::checkNchwInputs(d, shapes);
    if (err.empty() && p.getInt("kernel_size") % 2 == 0) {
      err = "spatial-attention: kernel_size " + std::to_string(p.getInt("kernel_size")) +
            " is even; the map would not match the input. Use an odd size (e.g. --set "
            "kernel_size=7)";
    }
    return err;
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    const auto& s = shapes[0];
    return desc::f32Bytes(2 * desc::numel(s) + 4 * s[0] * s[2] * s[3]);
  };
  d.make = [](const Params& p, const std::vector<Shape>&) {
    SpatialAttention m(SpatialAttentionOptions().kernel_size(p.getInt("kernel_size")));
    return makeInstance(m, [](SpatialAttention& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
