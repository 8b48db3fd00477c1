#include "core/modules/spatial_attention.h"

#include <ATen/ATen.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/fast_ops.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

SpatialAttentionImpl::SpatialAttentionImpl(const SpatialAttentionOptions& options)
    : options(options) {
  reset();
}

void SpatialAttentionImpl::reset() {
  const int64_t k = options.kernel_size();
  conv = register_module(
      "conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 1, k).padding(options.padding())));
}

torch::Tensor SpatialAttentionImpl::forward(const torch::Tensor& x) {
  const auto s = at::sigmoid(conv->forward(ops::channelMaxMean(x)));
  TORCH_CHECK(s.size(2) == x.size(2) && s.size(3) == x.size(3), "spatial-attention: the conv maps ",
              x.size(2), "x", x.size(3), " to ", s.size(2), "x", s.size(3), " (kernel ",
              options.kernel_size(), ", padding ", options.padding(), ")");
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
  d.params = {
      desc::intParam("kernel_size", 7, 1, 255, "odd conv kernel size"),
      desc::choiceParam("padding", {"seed", "same"},
                        "seed: the seed's fixed padding 3 (runs only with kernel 7); same: "
                        "padding k//2 (identical at k = 7)"),
  };
  d.probes = {desc::probe("spatial_weight", ProbeKind::SpatialMap, "[B,1,H,W]", 0, 1,
                          "per-pixel sigmoid weight s")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    const int64_t k = p.getInt("kernel_size");
    if (err.empty() && k % 2 == 0) {
      err = desc::evenKernel(d.id, k, "the map would not match the input");
    }
    if (err.empty() && p.getChoice("padding") == "seed" && k != 7) {
      err = Problem("spatial-attention: padding=seed is the seed's fixed padding 3, which keeps "
                    "H x W only for kernel 7, but kernel_size is " + std::to_string(k) +
                        " (the map would be " + std::to_string(shapes[0][2] + 7 - k) + " x " +
                        std::to_string(shapes[0][3] + 7 - k) +
                        "); padding=same (padding k//2) or kernel_size=7 keeps it",
                    parameterSubject("padding"), setParameter("padding", "same"));
    }
    return err;
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    const auto& s = shapes[0];
    // input, output; the pooled [B,2,H,W] map and its two halves, conv output, gate, probe
    return desc::f32Bytes(2 * desc::numel(s) + 7 * s[0] * s[2] * s[3]);
  };
  d.state = [](const Params& p, const std::vector<Shape>&) {
    return desc::StateList().conv2d("conv", 2, 1, p.getInt("kernel_size")).list();
  };
  d.make = [](const Params& p, const std::vector<Shape>&) {
    const int64_t k = p.getInt("kernel_size");
    SpatialAttention m(SpatialAttentionOptions().kernel_size(k).padding(
        p.getChoice("padding") == "same" ? k / 2 : 3));
    return makeInstance(m, [](SpatialAttention& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
