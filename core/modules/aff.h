#pragma once
/// AFF, attentional feature fusion of two inputs with an MS-CAM gate:
/// Dai et al., "Attentional Feature Fusion", WACV 2021 (arXiv 2009.14082); seed 001.
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

struct AffOptions {
  explicit AffOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, r) = 4;
  /// Output factor: 1 = seed and paper; 2 = open-aff PyTorch/MXNet (modules.md §2).
  TORCH_ARG(double, scale) = 1.0;
};

class AffImpl : public torch::nn::Cloneable<AffImpl> {
 public:
  explicit AffImpl(const AffOptions& options);
  void reset() override;
  /// x, residual [B,C,H,W] -> scale * (x * w + residual * (1 - w)),
  /// w = sigmoid(L(x + residual) + G(x + residual)). Probe: weight [B,C,H,W].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);

  AffOptions options;
  torch::nn::Sequential local_att{nullptr};
  torch::nn::Sequential global_att{nullptr};
};
TORCH_MODULE(Aff);

ModuleDescriptor affDescriptor();

}  // namespace fl
