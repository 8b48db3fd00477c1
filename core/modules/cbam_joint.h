#pragma once
/// CBAM variant with a joint channel+spatial MLP (seed 002 CBAMBlock), a community
/// modification of the zoo CBAM (External-Attention-pytorch `model/attention/CBAM.py`) after
/// Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018 (arXiv 1807.06521);
/// modules.md §7. No paper or official code exists for the joint MLP.
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "core/modules/descriptor.h"

namespace fl {

struct JointChannelLogitsOptions {
  explicit JointChannelLogitsOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, reduction) = 16;
};

/// The seed's `ChannelAttention`: se(GMP(x)) + se(GAP(x)), se = Conv1x1(C->C/r, no bias)
/// ReLU Conv1x1(C/r->C, no bias) (indices 0,(1),2), shared. [B,C,H,W] -> [B,C] logits
/// (the seed returns them as [B,C,1,1]; it defines a sigmoid but never applies it).
class JointChannelLogitsImpl : public torch::nn::Cloneable<JointChannelLogitsImpl> {
 public:
  explicit JointChannelLogitsImpl(const JointChannelLogitsOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  JointChannelLogitsOptions options;
  torch::nn::Sequential se{nullptr};
};
TORCH_MODULE(JointChannelLogits);

struct JointSpatialLogitsOptions {
  TORCH_ARG(int64_t, kernel_size) = 7;  ///< odd; padding k/2
};

/// The seed's `SpatialAttention`: conv([max_c x, mean_c x]) with bias, max first.
/// [B,C,H,W] -> [B,1,H,W] logits (no sigmoid).
class JointSpatialLogitsImpl : public torch::nn::Cloneable<JointSpatialLogitsImpl> {
 public:
  explicit JointSpatialLogitsImpl(const JointSpatialLogitsOptions& options = {});
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  JointSpatialLogitsOptions options;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(JointSpatialLogits);

struct CbamJointOptions {
  CbamJointOptions(int64_t channels, int64_t hw) : channels_(channels), hw_(hw) {}
  TORCH_ARG(int64_t, channels);
  /// H*W of the inputs: the joint MLP has C + HW channels, so the module (and its weights)
  /// only works at one resolution.
  TORCH_ARG(int64_t, hw);
  TORCH_ARG(int64_t, reduction) = 8;
  TORCH_ARG(int64_t, kernel_size) = 7;
};

class CbamJointImpl : public torch::nn::Cloneable<CbamJointImpl> {
 public:
  explicit CbamJointImpl(const CbamJointOptions& options);
  void reset() override;
  /// x [B,C,H,W] with H*W == hw -> {x * cw, x * sw} (two separate outputs, no residual):
  /// cs = MLP(cat[ChannelAttention(x) [B,C,1,1], SpatialAttention(x) as [B,HW,1,1]]),
  /// MLP = Conv1x1(C+HW -> C/r) ReLU Conv1x1(C/r -> C+HW), both without bias;
  /// cw = sigmoid(cs[:, :C]) [B,C,1,1], sw = sigmoid(cs[:, C:]) as [B,1,H,W].
  /// Probes: channel_weight [B,C], spatial_weight [B,1,H,W].
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& x);

  CbamJointOptions options;
  // Registered as the seed's ChannelAttention, SpatialAttention and MLP.
  JointChannelLogits channel_attention{nullptr};
  JointSpatialLogits spatial_attention{nullptr};
  torch::nn::Sequential mlp{nullptr};
};
TORCH_MODULE(CbamJoint);

ModuleDescriptor cbamJointDescriptor();

}  // namespace fl
