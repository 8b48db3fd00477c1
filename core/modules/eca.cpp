#include "core/modules/eca.h"

#include <ATen/ATen.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

EcaImpl::EcaImpl(const EcaOptions& options) : options(options) { reset(); }

void EcaImpl::reset() {
  const int64_t k = options.kernel_size();
  conv = register_module(
      "conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(1, 1, k).padding((k - 1) / 2)));
}

torch::Tensor EcaImpl::forward(const torch::Tensor& x) {
  // [B,C,1,1] -> [B,1,C]: channels become the sequence the 1-D conv slides over.
  const auto avg = at::adaptive_avg_pool2d(x, {1, 1}).squeeze(-1).permute({0, 2, 1});
  const auto max = std::get<0>(at::adaptive_max_pool2d(x, {1, 1})).squeeze(-1).permute({0, 2, 1});
  const auto y = torch::sigmoid(conv->forward(max) + conv->forward(avg));  // [B,1,C]
  if (probe::active()) probe::record("channel_weight", y.flatten(1));
  return x * y.permute({0, 2, 1}).unsqueeze(-1);
}

ModuleDescriptor ecaDescriptor() {
  ModuleDescriptor d;
  d.id = "eca";
  d.displayName = "ECA (efficient channel attention, avg+max)";
  d.category = ModuleCategory::Channel;
  d.summary = "Channel weights from a 1-D conv across pooled channel descriptors";
  d.citation = "Wang et al., ECA-Net, CVPR 2020, arXiv:1910.03151 (seed 004 avg+max variant)";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {desc::intParam("kernel_size", 7, 1, 255,
                             "odd 1-D kernel size across channels (padding (k-1)/2)")};
  d.probes = {desc::probe("channel_weight", ProbeKind::ChannelWeights, "[B,C]", 0, 1,
                          "per-channel sigmoid weight y")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) {
    std::string err = desc::checkNchwInputs(d, shapes);
    if (err.empty() && p.getInt("kernel_size") % 2 == 0) {
      err = "eca: kernel_size " + std::to_string(p.getInt("kernel_size")) +
            " is even; the channel count would change. Use an odd size (e.g. --set kernel_size=7)";
    }
    return err;
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    return desc::f32Bytes(3 * desc::numel(shapes[0]));
  };
  d.make = [](const Params& p, const std::vector<Shape>&) {
    Eca m(EcaOptions().kernel_size(p.getInt("kernel_size")));
    return makeInstance(m, [](Eca& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
