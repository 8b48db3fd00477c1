#pragma once
/// Spatial attention of seed 004: the CBAM spatial gate applied to its input, after
/// Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018 (arXiv 1807.06521).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

struct SpatialAttentionOptions {
  TORCH_ARG(int64_t, kernel_size) = 7;
  /// Zero padding of the conv. The seed hard-codes 3, which keeps H x W only for k = 7;
  /// k/2 keeps it for every odd k and equals 3 at k = 7.
  TORCH_ARG(int64_t, padding) = 3;
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

ModuleDescriptor spatialAttentionDescriptor();

}  // namespace fl
