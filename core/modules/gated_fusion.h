#pragma once
/// Gated fusion of two inputs, the simplified seed-002 form of GMAN's gatedFusion:
/// Zheng et al., "GMAN: A Graph Multi-Attention Network for Traffic Prediction", AAAI 2020
/// (arXiv 1911.08415); modules.md §3.
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

struct GatedFusionOptions {
  explicit GatedFusionOptions(int64_t dim) : dim_(dim) {}
  /// D: the channel count (the last dim of the seed's channels-last inputs).
  TORCH_ARG(int64_t, dim);
};

class GatedFusionImpl : public torch::nn::Cloneable<GatedFusionImpl> {
 public:
  explicit GatedFusionImpl(const GatedFusionOptions& options);
  void reset() override;
  /// x1, x2 [B,C,H,W] -> z * x1 + (1 - z) * x2 [B,C,H,W], z = sigmoid(fc1(x1) + fc2(x2))
  /// with the Linear layers applied channels-last (the seed's layout, [B,H,W,C]).
  /// Probe: gate = z [B,C,H,W].
  torch::Tensor forward(const torch::Tensor& x1, const torch::Tensor& x2);

  GatedFusionOptions options;
  torch::nn::Linear fc1{nullptr};
  torch::nn::Linear fc2{nullptr};
};
TORCH_MODULE(GatedFusion);

ModuleDescriptor gatedFusionDescriptor();

}  // namespace fl
