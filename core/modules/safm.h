#pragma once
/// SAFM, spatially-adaptive feature modulation, of
/// Sun et al., "Spatially-Adaptive Feature Modulation for Efficient Image
/// Super-Resolution" (SAFMN), ICCV 2023 (arXiv 2302.13800); seed 002 = official
/// `sunny2109/SAFMN:basicsr/archs/safmn_arch.py`, class SAFM (modules.md §5).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

struct SafmOptions {
  explicit SafmOptions(int64_t dim) : dim_(dim) {}
  TORCH_ARG(int64_t, dim);
  /// Number of scales; dim must be divisible by it and H, W >= 2^(n_levels - 1).
  TORCH_ARG(int64_t, n_levels) = 4;
};

class SafmImpl : public torch::nn::Cloneable<SafmImpl> {
 public:
  explicit SafmImpl(const SafmOptions& options);
  void reset() override;
  /// x [B,C,H,W] -> M * x, M = GELU(aggr(cat_i s_i)) [B,C,H,W], where the channels are split
  /// into n_levels chunks x_i of C/n; s_0 = mfr_0(x_0) and, for i >= 1,
  /// s_i = nearest_up(mfr_i(adaptive_max_pool(x_i, (H / 2^i, W / 2^i))), (H, W)) with legacy
  /// nearest (floor) sampling; mfr_i are depthwise 3x3 convs. Probe: modulation = M [B,C,H,W]
  /// (unbounded: GELU >= -0.17).
  torch::Tensor forward(const torch::Tensor& x);
  /// forward() in the seed's order (upsample each level, cat, aggr): other dtypes and devices.
  torch::Tensor forwardReference(const torch::Tensor& x, const std::vector<torch::Tensor>& chunks);

  SafmOptions options;
  torch::nn::ModuleList mfr{nullptr};
  torch::nn::Conv2d aggr{nullptr};
};
TORCH_MODULE(Safm);

ModuleDescriptor safmDescriptor();

}  // namespace fl
