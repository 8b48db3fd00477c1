#pragma once
/// iAFF, iterative attentional feature fusion: two MS-CAM stages.
/// Dai et al., "Attentional Feature Fusion", WACV 2021 (arXiv 2009.14082); seed 001.
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

struct IaffOptions {
  explicit IaffOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, r) = 4;
  /// false (seed, open-aff PyTorch): stage 2 reuses global_att and global_att2 is unused.
  /// true (MXNet original): stage 2 uses global_att2. Never enable this for checkpoints
  /// trained with the PyTorch code: their global_att2 weights are untrained.
  TORCH_ARG(bool, use_global_att2) = false;
};

class IaffImpl : public torch::nn::Cloneable<IaffImpl> {
 public:
  explicit IaffImpl(const IaffOptions& options);
  void reset() override;
  /// x, residual [B,C,H,W] -> x * w2 + residual * (1 - w2), where
  /// w = gate(x + residual), xi = x * w + residual * (1 - w), w2 = gate2(xi).
  /// Probes: weight, weight2 [B,C,H,W].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);

  IaffOptions options;
  torch::nn::Sequential local_att{nullptr};
  torch::nn::Sequential global_att{nullptr};
  torch::nn::Sequential local_att2{nullptr};
  torch::nn::Sequential global_att2{nullptr};
};
TORCH_MODULE(Iaff);

ModuleDescriptor iaffDescriptor();

}  // namespace fl
