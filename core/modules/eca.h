#pragma once
/// ECA channel attention, the avg+max variant of seed 004, after
/// Wang et al., "ECA-Net: Efficient Channel Attention for Deep CNNs", CVPR 2020
/// (arXiv 1910.03151).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

struct EcaOptions {
  /// Odd kernel size of the shared Conv1d across channels. The seed hard-codes padding 3,
  /// which only works for 7; we use padding (k-1)/2, identical at k=7.
  TORCH_ARG(int64_t, kernel_size) = 7;
};

class EcaImpl : public torch::nn::Cloneable<EcaImpl> {
 public:
  explicit EcaImpl(const EcaOptions& options = {});
  void reset() override;
  /// x [B,C,H,W] -> x * y, y = sigmoid(conv(GMP(x)) + conv(GAP(x))) as [B,C,1,1]; the conv
  /// (with bias) is shared, so its bias is added twice (seed behaviour).
  /// Probe: channel_weight [B,C].
  torch::Tensor forward(const torch::Tensor& x);

  EcaOptions options;
  torch::nn::Conv1d conv{nullptr};
};
TORCH_MODULE(Eca);

ModuleDescriptor ecaDescriptor();

}  // namespace fl
