#pragma once
/// Spatial attention of seed 004: the CBAM spatial gate applied to its input, after
/// Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018 (arXiv 1807.06521).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

struct SpatialAttentionOptions {
  /// Odd kernel size. The seed hard-codes padding 3 (only 7 works); we use k/2, identical at 7.
  TORCH_ARG(int64_t, kernel_size) = 7;
};

class SpatialAttentionImpl : public torch::nn::Cloneable<SpatialAttentionImpl> {
 public:
  explicit SpatialAttentionImpl(const SpatialAttentionOptions& options = {});
  void reset() override;
  /// x [B,C,H,W] -> x * s, s = sigmoid(conv([max_c x, mean_c x])) [B,1,H,W] (max first).
  /// Probe: spatial_weight [B,1,H,W].
  torch::Tensor forward(const torch::Tensor& x);

  SpatialAttentionOptions options;
  torch::nn::Conv2d conv{nullptr};
};
TORCH_MODULE(SpatialAttention);

/// [B,C,H,W] -> [B,2,H,W]: channel-wise max then mean (the CBAM "channel pool").
torch::Tensor maxMeanPool(const torch::Tensor& x);

ModuleDescriptor spatialAttentionDescriptor();

}  // namespace fl
