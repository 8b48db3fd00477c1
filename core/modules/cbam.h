#pragma once
/// CBAM, the convolutional block attention module, of
/// Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018
/// (arXiv 1807.06521), with the key layout of the official `Jongchan/attention-module:
/// MODELS/cbam.py` (modules.md §7, §13).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "core/modules/descriptor.h"

namespace fl {

struct CbamChannelGateOptions {
  explicit CbamChannelGateOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, reduction) = 16;
};

/// `ChannelGate`: mlp = Flatten Linear(C->C/r) ReLU Linear(C/r->C), both Linear with bias
/// (indices (0),1,(2),3), shared by the GAP and GMP descriptors.
/// [B,C,H,W] -> sigmoid(mlp(GAP x) + mlp(GMP x)) [B,C].
class CbamChannelGateImpl : public torch::nn::Cloneable<CbamChannelGateImpl> {
 public:
  explicit CbamChannelGateImpl(const CbamChannelGateOptions& options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  CbamChannelGateOptions options;
  torch::nn::Sequential mlp{nullptr};
};
TORCH_MODULE(CbamChannelGate);

struct CbamBasicConvOptions {
  TORCH_ARG(int64_t, kernel_size) = 7;
};

/// The official `BasicConv` as used by the spatial gate: conv (2->1, k, padding (k-1)/2, no
/// bias) then bn (BatchNorm2d(1), eps 1e-5, momentum 0.01), no ReLU. [B,2,H,W] -> [B,1,H,W].
class CbamBasicConvImpl : public torch::nn::Cloneable<CbamBasicConvImpl> {
 public:
  explicit CbamBasicConvImpl(const CbamBasicConvOptions& options = {});
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  CbamBasicConvOptions options;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(CbamBasicConv);

/// `SpatialGate`: sigmoid(spatial([max_c x, mean_c x])) [B,1,H,W] (max first).
class CbamSpatialGateImpl : public torch::nn::Cloneable<CbamSpatialGateImpl> {
 public:
  explicit CbamSpatialGateImpl(const CbamBasicConvOptions& options = {});
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  CbamBasicConvOptions options;
  CbamBasicConv spatial{nullptr};
};
TORCH_MODULE(CbamSpatialGate);

struct CbamOptions {
  explicit CbamOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, reduction) = 16;
  TORCH_ARG(int64_t, kernel_size) = 7;  ///< odd
};

class CbamImpl : public torch::nn::Cloneable<CbamImpl> {
 public:
  explicit CbamImpl(const CbamOptions& options);
  void reset() override;
  /// x [B,C,H,W] -> x1 * sw, x1 = x * cw: channel gate cw [B,C] then spatial gate
  /// sw = SpatialGate(x1) [B,1,H,W] (sequential, no residual).
  /// Probes: channel_weight [B,C], spatial_weight [B,1,H,W].
  torch::Tensor forward(const torch::Tensor& x);

  CbamOptions options;
  // Registered as the official ChannelGate and SpatialGate.
  CbamChannelGate channel_gate{nullptr};
  CbamSpatialGate spatial_gate{nullptr};
};
TORCH_MODULE(Cbam);

ModuleDescriptor cbamDescriptor();

}  // namespace fl
