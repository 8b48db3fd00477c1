#pragma once
/// SE, squeeze-and-excitation channel attention, of
/// Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018 (arXiv 1709.01507); key layout
/// of the zoo `External-Attention-pytorch:model/attention/SEAttention.py` (modules.md §13).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

struct SeOptions {
  explicit SeOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  TORCH_ARG(int64_t, reduction) = 16;  ///< hidden width = channels / reduction
};

class SeImpl : public torch::nn::Cloneable<SeImpl> {
 public:
  explicit SeImpl(const SeOptions& options);
  void reset() override;
  /// x [B,C,H,W] -> x * s, s = sigmoid(fc.2(ReLU(fc.0(GAP(x))))) [B,C], with
  /// fc = Linear(C->C/r, no bias) ReLU Linear(C/r->C, no bias) Sigmoid (indices 0,(1),2,(3)).
  /// Probe: channel_weight = s [B,C].
  torch::Tensor forward(const torch::Tensor& x);

  SeOptions options;
  torch::nn::Sequential fc{nullptr};
};
TORCH_MODULE(Se);

ModuleDescriptor seDescriptor();

}  // namespace fl
