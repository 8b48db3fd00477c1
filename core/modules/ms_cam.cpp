#include "core/modules/ms_cam.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/pooling.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/fast_ops.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

nn::Sequential makeLocalAttention(int64_t channels, int64_t inter) {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(channels, inter, 1)),
                        nn::BatchNorm2d(inter), nn::ReLU(),
                        nn::Conv2d(nn::Conv2dOptions(inter, channels, 1)),
                        nn::BatchNorm2d(channels));
}

nn::Sequential makeGlobalAttention(int64_t channels, int64_t inter) {
  return nn::Sequential(nn::AdaptiveAvgPool2d(1),
                        nn::Conv2d(nn::Conv2dOptions(channels, inter, 1)),
                        nn::BatchNorm2d(inter), nn::ReLU(),
                        nn::Conv2d(nn::Conv2dOptions(inter, channels, 1)),
                        nn::BatchNorm2d(channels));
}

at::Tensor localAttentionPlus(nn::Sequential local, const at::Tensor& x,
                              const at::Tensor& extra) {
  const auto& conv1 = *local->ptr(0)->as<nn::Conv2dImpl>();
  const auto& bn1 = *local->ptr(1)->as<nn::BatchNorm2dImpl>();
  const auto& conv2 = *local->ptr(3)->as<nn::Conv2dImpl>();
  const auto& bn2 = *local->ptr(4)->as<nn::BatchNorm2dImpl>();
  if (!ops::foldable(bn1) || !ops::foldable(bn2) || x.dim() != 4) {
    auto out = local->forward(x);
    return extra.defined() ? out.add_(extra.view({x.size(0), x.size(1), 1, 1})) : out;
  }
  const auto [w1, b1] = ops::foldConvBn(conv1, bn1);
  const auto [w2, b2] = ops::foldConvBn(conv2, bn2);
  const int64_t batch = x.size(0), c = x.size(1);
  // The hidden map is a quarter of the input at r = 4; the bias of the second product carries
  // G(x), so the sum L(x) + G(x) costs no pass of its own.
  const auto hidden = ops::pointwise(x, w1, b1.expand({batch, w1.size(0)}), /*relu=*/true);
  const auto bias2 = extra.defined() ? b2 + extra.reshape({batch, c}) : b2.expand({batch, c});
  return ops::pointwise(hidden, w2, bias2, /*relu=*/false);
}

void addLocalAttentionState(desc::StateList& state, const std::string& prefix, int64_t channels,
                            int64_t inter) {
  state.conv2d(prefix + ".0", channels, inter, 1).batchNorm(prefix + ".1", inter);
  state.conv2d(prefix + ".3", inter, channels, 1).batchNorm(prefix + ".4", channels);
}

void addGlobalAttentionState(desc::StateList& state, const std::string& prefix, int64_t channels,
                             int64_t inter) {
  state.conv2d(prefix + ".1", channels, inter, 1).batchNorm(prefix + ".2", inter);
  state.conv2d(prefix + ".4", inter, channels, 1).batchNorm(prefix + ".5", channels);
}

void addMsCamState(desc::StateList& state, int64_t channels, int64_t inter, const std::string& suffix) {
  addLocalAttentionState(state, "local_att" + suffix, channels, inter);
  addGlobalAttentionState(state, "global_att" + suffix, channels, inter);
}

std::vector<StateTensor> msCamState(const Params& p, const std::vector<Shape>& shapes) {
  const int64_t c = shapes[0][1], inter = c / p.getInt("r");
  desc::StateList s;
  addMsCamState(s, c, inter);
  return s.list();
}

MsCamImpl::MsCamImpl(const MsCamOptions& options) : options(options) { reset(); }

void MsCamImpl::reset() {
  const int64_t inter = options.channels() / options.r();
  local_att = register_module("local_att", makeLocalAttention(options.channels(), inter));
  global_att = register_module("global_att", makeGlobalAttention(options.channels(), inter));
}

torch::Tensor MsCamImpl::forward(const torch::Tensor& x) {
  const auto xg = global_att->forward(x);
  if (!probe::active()) {  // G(x) enters through L's bias: one full-size temporary in all
    return localAttentionPlus(local_att, x, xg).sigmoid_().mul_(x);
  }
  const auto xl = localAttentionPlus(local_att, x, {});
  auto wei = xl + xg;  // xl is a probe: not updated in place
  wei.sigmoid_();
  // records are copies, so wei can become the output below
  probe::record("weight", wei);
  probe::record("local", xl);
  probe::record("global", xg.flatten(1));
  return wei.mul_(x);
}

ModuleDescriptor msCamDescriptor() {
  ModuleDescriptor d;
  d.id = "ms-cam";
  d.displayName = "MS-CAM (multi-scale channel attention)";
  d.category = ModuleCategory::Channel;
  d.summary = "Channel attention from a point-wise local branch plus a global (GAP) branch";
  d.citation = "Dai et al., Attentional Feature Fusion, WACV 2021, arXiv:2009.14082";
  d.inputs = {{"x", "feature map [B,C,H,W]"}};
  d.outputs = {"output"};
  d.params = {desc::intParam("r", 4, 1, 4096, "channel reduction: hidden width = C // r")};
  d.probes = {
      desc::probe("weight", ProbeKind::Gate, "[B,C,H,W]", 0, 1, "sigmoid(L(x) + G(x))"),
      desc::unboundedProbe("local", ProbeKind::FeatureMap, "[B,C,H,W]", "local logits L(x)"),
      desc::unboundedProbe("global", ProbeKind::ChannelWeights, "[B,C]", "global logits G(x)"),
  };
  d.check = [d](const Params& p, const std::vector<Shape>& shapes) -> Problem {
    Problem err = desc::checkNchwInputs(d, shapes);
    if (err.empty()) err = desc::checkReduction(d.id, shapes[0][1], p.getInt("r"), "r");
    return err;
  };
  d.memoryBytes = [](const Params&, const std::vector<Shape>& shapes) {
    // input, two branch activations, weight, output and three probe copies
    return desc::f32Bytes(8 * desc::numel(shapes[0]));
  };
  d.state = msCamState;
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    MsCam m(MsCamOptions(shapes[0][1]).r(p.getInt("r")));
    return makeInstance(m, [](MsCam& mod, const std::vector<at::Tensor>& in) {
      return std::vector<at::Tensor>{mod->forward(in[0])};
    });
  };
  return d;
}

}  // namespace fl
