#include "core/modules/cbam_joint.h"

#include <ATen/ATen.h>
#include <torch/nn/modules/activation.h>

#include "core/modules/descriptor_util.h"
#include "core/modules/fast_ops.h"
#include "core/modules/module_instance.h"
#include "core/modules/probe.h"

namespace fl {

namespace nn = torch::nn;

namespace {

/// Conv1x1(in->hid, no bias) ReLU Conv1x1(hid->in, no bias): indices 0,(1),2.
nn::Sequential makeBottleneck(int64_t in, int64_t hid) {
  return nn::Sequential(nn::Conv2d(nn::Conv2dOptions(in, hid, 1).bias(false)), nn::ReLU(),
                        nn::Conv2d(nn::Conv2dOptions(hid, in, 1).bias(false)));
}

/// Applies a bottleneck (conv 0, ReLU 1, conv 2) built by makeBottleneck to rows [M,in]: the
/// 1x1 convs on [M,in,1,1] as matrix products (same numbers, far cheaper than conv calls).
torch::Tensor bottleneckRows(const nn::Sequential& seq, const torch::Tensor& rows) {
  const auto hidden = at::relu(ops::conv1x1Rows(*seq->ptr(0)->as<nn::Conv2d>(), rows));
  return ops::conv1x1Rows(*seq->ptr(2)->as<nn::Conv2d>(), hidden);
}

}  // namespace

JointChannelLogitsImpl::JointChannelLogitsImpl(const JointChannelLogitsOptions& options)
    : options(options) {
  reset();
}

void JointChannelLogitsImpl::reset() {
  se = register_module(
      "se", makeBottleneck(options.channels(), options.channels() / options.reduction()));
}

torch::Tensor JointChannelLogitsImpl::forward(const torch::Tensor& x) {
  // GMP and GAP rows as one [2B,C] batch through the shared se: se(max) + se(avg) is the
  // sum of the two halves.
  const int64_t b = x.size(0);
  const auto z = bottleneckRows(se, at::cat({ops::globalMax(x), ops::globalMean(x)}, 0));
  return z.narrow(0, 0, b).add(z.narrow(0, b, b));
}

JointSpatialLogitsImpl::JointSpatialLogitsImpl(const JointSpatialLogitsOptions& options)
    : options(options) {
  reset();
}

void JointSpatialLogitsImpl::reset() {
  const int64_t k = options.kernel_size();
  conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(2, 1, k).padding(k / 2)));
}

torch::Tensor JointSpatialLogitsImpl::forward(const torch::Tensor& x) {
  return conv->forward(ops::channelMaxMean(x));
}

CbamJointImpl::CbamJointImpl(const CbamJointOptions& options) : options(options) { reset(); }

void CbamJointImpl::reset() {
  const int64_t c = options.channels();
  channel_attention = register_module(
      "ChannelAttention",
      JointChannelLogits(JointChannelLogitsOptions(c).reduction(options.reduction())));
  spatial_attention = register_module(
      "SpatialAttention",
      JointSpatialLogits(JointSpatialLogitsOptions().kernel_size(options.kernel_size())));
  mlp = register_module("MLP", makeBottleneck(c + options.hw(), c / options.reduction()));
}

std::pair<torch::Tensor, torch::Tensor> CbamJointImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  TORCH_CHECK(h * w == options.hw(), "cbam-joint: input H*W = ", h * w,
              " but the module was built for HW = ", options.hw());
  const auto channel = channel_attention->forward(x);                  // [B,C]
  const auto spatial = spatial_attention->forward(x).reshape({b, h * w});  // [B,HW]
  const auto cs = bottleneckRows(mlp, at::cat({channel, spatial}, 1));   // [B,C+HW]
  const auto cw = at::sigmoid(cs.slice(1, 0, c)).reshape({b, c, 1, 1});
  const auto sw = at::sigmoid(cs.slice(1, c)).reshape({b, 1, h, w});
  if (probe::active()) {
    probe::record("channel_weight", cw.reshape({b, c}));
    probe::record("spatial_weight", sw);
  }
  return {x * cw, x * sw};
}

ModuleDescriptor cbamJointDescriptor() {
  ModuleDescriptor d;
  d.id = "cbam-joint";
  d.displayName = "CBAM with joint MLP (seed 002 CBAMBlock)";
  d.category = ModuleCategory::ChannelSpatial;
  d.summary =
      "CBAM channel and spatial logits mixed by one MLP over C + H*W; returns x*cw and x*sw "
      "(resolution-locked: weights load only at the H*W they were trained at)";
  d.citation =
      "Community variant of Woo et al., CBAM, ECCV 2018, arXiv:1807.06521 (seed 002 CBAMBlock; "
      "no paper for the joint MLP)";
  d.inputs = {{"x", "feature map [B,C,H,W]; H*W sets the MLP width C + H*W"}};
  d.outputs = {"output.0", "output.1"};
  d.params = {
      desc::intParam("reduction", 8, 1, 4096, "MLP reduction: hidden width = C // reduction"),
      desc::intParam("kernel_size", 7, 1, 255, "odd spatial conv kernel size (padding k/2)"),
  };
  d.probes = {
      desc::probe("channel_weight", ProbeKind::ChannelWeights, "[B,C]", 0, 1,
                  "channel weight cw (output.0 = x * cw)"),
      desc::probe("spatial_weight", ProbeKind::SpatialMap, "[B,1,H,W]", 0, 1,
                  "spatial weight sw (output.1 = x * sw)"),
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
  d.memoryBytes = [](const Params& p, const std::vector<Shape>& shapes) {
    const auto& s = shapes[0];
    const int64_t hw = s[2] * s[3];
    const int64_t joint = s[1] + hw;
    // input, two outputs, the spatial maps; MLP weights grow with H*W: 2 (C+HW) C/r.
    return desc::f32Bytes(3 * desc::numel(s) + 8 * s[0] * hw + 4 * s[0] * joint +
                          2 * joint * (s[1] / p.getInt("reduction")));
  };
  d.state = [](const Params& p, const std::vector<Shape>& shapes) {
    const int64_t c = shapes[0][1], hid = c / p.getInt("reduction");
    const int64_t joint = c + shapes[0][2] * shapes[0][3];
    return desc::StateList()
        .conv2d("ChannelAttention.se.0", c, hid, 1, false)
        .conv2d("ChannelAttention.se.2", hid, c, 1, false)
        .conv2d("SpatialAttention.conv", 2, 1, p.getInt("kernel_size"))
        .conv2d("MLP.0", joint, hid, 1, false)
        .conv2d("MLP.2", hid, joint, 1, false)
        .list();
  };
  d.make = [](const Params& p, const std::vector<Shape>& shapes) {
    CbamJoint m(CbamJointOptions(shapes[0][1], shapes[0][2] * shapes[0][3])
                    .reduction(p.getInt("reduction"))
                    .kernel_size(p.getInt("kernel_size")));
    return makeInstance(m, [](CbamJoint& mod, const std::vector<at::Tensor>& in) {
      auto [o1, o2] = mod->forward(in[0]);
      return std::vector<at::Tensor>{o1, o2};
    });
  };
  return d;
}

}  // namespace fl
