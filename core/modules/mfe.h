#pragma once
/// MFE, the multi-feature extraction block (seed 002 "MFEblock") of
/// Xie et al., "SHISRCNet: Super-resolution And Classification Network For Low-resolution
/// Breast Cancer Histopathology Image", MICCAI 2023 (arXiv 2306.14119); official
/// `xiely-123/SHISRCNet:SRResNet_class.py`, class MFEblock (modules.md §4).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include <array>
#include <vector>

#include "core/modules/descriptor.h"
#include "core/modules/msf.h"

namespace fl {

struct MfeOptions {
  explicit MfeOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  /// Dilations of layer2..layer4; exactly 3 (the paper uses 2, 4, 8).
  TORCH_ARG(std::vector<int64_t>, atrous_rates) = std::vector<int64_t>{2, 4, 8};
  /// Seed = bias-free 1x1 conv SE (default); Shisrcnet = conv + BN + ReLU, which is what the
  /// official code runs and what its checkpoints hold.
  TORCH_ARG(ScaleSeVariant, se_variant) = ScaleSeVariant::Seed;
};

/// Conv3x3(dilation r, padding r, no bias) BN ReLU, indices 0,1,(2): [B,C,H,W] -> [B,C,H,W].
torch::nn::Sequential makeAsppConv(int64_t channels, int64_t rate);

class MfeImpl : public torch::nn::Cloneable<MfeImpl> {
 public:
  explicit MfeImpl(const MfeOptions& options);
  void reset() override;
  /// x [B,C,H,W] -> project(sum_i w_i y_i + x) [B,C,H,W], where y0 = layer1(x) (dilation 1),
  /// y1 = layer2(y0 + x), y2 = layer3(y1 + x), y3 = layer4(y2 + x) and w = selectiveFuse's
  /// per-channel softmax over the four scales. Probe: scale_weights = w [B,C,4].
  torch::Tensor forward(const torch::Tensor& x);

  MfeOptions options;
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  torch::nn::Sequential project{nullptr};
  std::array<ScaleSe, 4> se{
      {ScaleSe{nullptr}, ScaleSe{nullptr}, ScaleSe{nullptr}, ScaleSe{nullptr}}};
};
TORCH_MODULE(Mfe);

ModuleDescriptor mfeDescriptor();

}  // namespace fl
