#include "core/modules/se.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

SeImpl::SeImpl(const SeOptions& options) : options(options) { reset(); }

void SeImpl::reset() {
  const int64_t c = options.channels();
  const int64_t hid = c / options.reduction();
  fc = register_module(
      "fc", nn::Sequential(nn::Linear(nn::LinearOptions(c, hid).bias(false)), nn::ReLU(),
                           nn::Linear(nn::LinearOptions(hid, c).bias(false)), nn::Sigmoid()));
}

torch::Tensor SeImpl::forward(const torch::Tensor& x) {
  const auto s = fc->forward(x.mean({2, 3}));  // squeeze [B,C] -> excite [B,C]
  if (probe::active()) probe::record("channel_weight", s);
  return x * s.unsqueeze(-1).unsqueeze(-1);
}

ModuleDescriptor seDescriptor() {
  ModuleDescriptor d;
  d.id = "se";
  d.displayName = "SE (squeeze-and-excitation)";
  d.category = ModuleCategory::Channel;
  d.summary = "Channel weights from a bottleneck MLP on globally average-pooled features";
  d.citation = "Hu et al., Squeeze-and-Excitation Networks, CVPR 2018, arXiv:1709.01507";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {desc::intParam("reduction", 16, 1, 4096,
                             "bottleneck reduction: hidden width = C // reduction")};
  d.probes = {desc::probe("channel_weight", ProbeKind::ChannelWeights, "[B,C]", 0, 1,
                          "per-channel sigmoid weight s")};
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (err.empty()) {
      err = desc::checkReduction(d.id, shapes[0][1], p.getInt("reduction"), "reduction");
    }
    return err;
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    return desc::f32Bytes(2 * desc::numel(shapes[0]) + 4 * shapes[0][0] * shapes[0][1]);
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t c = shapes[0][1], hid = c / p.getInt("reduction");
    return desc::StateList().linear("fc.0", c, hid, false).linear("fc.2", hid, c, false).list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Se m(SeOptions(shapes[0][1]).reduction(p.getInt("reduction")));
    return makeInstance(m, [](Se& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
