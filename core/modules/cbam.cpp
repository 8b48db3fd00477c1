#include "core/modules/cbam.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/linear.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/fast_ops.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

CbamChannelGateImpl::CbamChannelGateImpl(const CbamChannelGateOptions& options) : options(options) {
  reset();
}

void CbamChannelGateImpl::reset() {
  const int64_t c = options.channels();
  const int64_t hid = c / options.reduction();
  mlp = register_module(
      "mlp", nn::Sequential(nn::Flatten(), nn::Linear(c, hid), nn::ReLU(), nn::Linear(hid, c)));
}

torch::Tensor CbamChannelGateImpl::forward(const torch::Tensor& x) {
  // GAP and GMP rows as one [2B,C] batch through the shared MLP (Flatten is then a no-op):
  // mlp(avg) + mlp(max) is the sum of the two halves, one pass instead of two.
  const int64_t b = x.size(0);
  const auto z = mlp->forward(at::cat({ops::globalMean(x), ops::globalMax(x)}, 0));
  return at::sigmoid(z.narrow(0, 0, b).add(z.narrow(0, b, b)));
}

CbamBasicConvImpl::CbamBasicConvImpl(const CbamBasicConvOptions& options) : options(options) {
  reset();
}

void CbamBasicConvImpl::reset() {
  const int64_t k = options.kernel_size();
  conv = register_module("conv",
                         nn::Conv2d(nn::Conv2dOptions(2, 1, k).padding((k - 1) / 2).bias(false)));
  bn = register_module("bn", nn::BatchNorm2d(nn::BatchNormOptions(1).eps(1e-5).momentum(0.01)));
}

torch::Tensor CbamBasicConvImpl::forward(const torch::Tensor& x) {
  return bn->forward(conv->forward(x));
}

CbamSpatialGateImpl::CbamSpatialGateImpl(const CbamBasicConvOptions& options) : options(options) {
  reset();
}

void CbamSpatialGateImpl::reset() { spatial = register_module("spatial", CbamBasicConv(options)); }

torch::Tensor CbamSpatialGateImpl::forward(const torch::Tensor& x) {
  return at::sigmoid(spatial->forward(ops::channelMaxMean(x)));
}

CbamImpl::CbamImpl(const CbamOptions& options) : options(options) { reset(); }

void CbamImpl::reset() {
  channel_gate = register_module(
      "ChannelGate",
      CbamChannelGate(CbamChannelGateOptions(options.channels()).reduction(options.reduction())));
  spatial_gate = register_module(
      "SpatialGate", CbamSpatialGate(CbamBasicConvOptions().kernel_size(options.kernel_size())));
}

torch::Tensor CbamImpl::forward(const torch::Tensor& x) {
  const auto cw = channel_gate->forward(x);  // [B,C]
  auto x1 = x * cw.view({cw.size(0), cw.size(1), 1, 1});
  const auto sw = spatial_gate->forward(x1);  // [B,1,H,W]
  if (probe::active()) {
    probe::record("channel_weight", cw);
    probe::record("spatial_weight", sw);
  }
  return x1.mul_(sw);  // x1 is ours and no longer needed: gate it in place
}

ModuleDescriptor cbamDescriptor() {
  ModuleDescriptor d;
  d.id = "cbam";
  d.displayName = "CBAM (convolutional block attention module)";
  d.category = ModuleCategory::ChannelSpatial;
  d.summary =
      "Channel gate from avg+max pooled MLP, then a spatial gate from a conv over "
      "channel max and mean, applied in sequence";
  d.citation =
      "Woo et al., CBAM: Convolutional Block Attention Module, ECCV 2018, "
      "arXiv:1807.06521 (keys of Jongchan/attention-module)";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {
      desc::intParam("reduction", 16, 1, 4096, "MLP reduction: hidden width = C // reduction"),
      desc::intParam("kernel_size", 7, 1, 255, "odd spatial conv kernel size (padding (k-1)/2)"),
  };
  d.probes = {
      desc::probe("channel_weight", ProbeKind::ChannelWeights, "[B,C]", 0, 1,
                  "channel gate Mc = sigmoid(MLP(avg) + MLP(max))"),
      desc::probe("spatial_weight", ProbeKind::SpatialMap, "[B,1,H,W]", 0, 1,
                  "spatial gate Ms on the channel-gated features"),
  };
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (err.empty() && p.getInt("kernel_size") % 2 == 0) {
      err = desc::evenKernel(d.id, p.getInt("kernel_size"), "the spatial map would not be H x W");
    }
    if (err.empty()) {
      err = desc::checkReduction(d.id, shapes[0][1], p.getInt("reduction"), "reduction");
    }
    return err;
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    const auto& s = shapes[0];
    // input, x1 (gated in place into the output); channel pools, spatial maps
    return desc::f32Bytes(2 * desc::numel(s) + 6 * s[0] * s[2] * s[3] + 8 * s[0] * s[1]);
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t c = shapes[0][1], hid = c / p.getInt("reduction");
    return desc::StateList()
        .linear("ChannelGate.mlp.1", c, hid)
        .linear("ChannelGate.mlp.3", hid, c)
        .conv2d("SpatialGate.spatial.conv", 2, 1, p.getInt("kernel_size"), false)
        .batchNorm("SpatialGate.spatial.bn", 1)
        .list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    Cbam m(CbamOptions(shapes[0][1])
               .reduction(p.getInt("reduction"))
               .kernel_size(p.getInt("kernel_size")));
    return makeInstance(m, [](Cbam& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
