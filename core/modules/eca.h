#pragma once
/// ECA channel attention, the avg+max variant of seed 004 (default) and the official
/// avg-only `eca_layer` (option), after Wang et al., "ECA-Net: Efficient Channel Attention
/// for Deep CNNs", CVPR 2020 (arXiv 1910.03151); modules.md §9.
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

/// seed: seed 004, y = sigmoid(conv(GMP x) + conv(GAP x)) with one shared Conv1d that has a
/// bias (added twice). official: BangguWu/ECANet `eca_layer`, y = sigmoid(conv(GAP x)), Conv1d
/// without bias (its state_dict is `conv.weight` only).
enum class EcaVariant { Seed, Official };

struct EcaOptions {
  /// Kernel size of the Conv1d across channels (odd when padding is (k-1)/2).
  TORCH_ARG(int64_t, kernel_size) = 7;
  /// Zero padding of the Conv1d. The seed hard-codes 3, which keeps C channels only for k = 7;
  /// (k-1)/2 (ECA-Net's) keeps them for every odd k and equals 3 at k = 7.
  TORCH_ARG(int64_t, padding) = 3;
  TORCH_ARG(EcaVariant, variant) = EcaVariant::Seed;
};

/// ECA-Net's adaptive kernel size for C channels: t = int(|log2(C) + b| / gamma) with
/// gamma = 2, b = 1, then the next odd number (C = 64 -> 3, 256 -> 5, 512 -> 5, 2048 -> 7).
int64_t ecaAdaptiveKernel(int64_t channels);

class EcaImpl : public torch::nn::Cloneable<EcaImpl> {
 public:
  explicit EcaImpl(const EcaOptions& options = {});
  void reset() override;
  /// x [B,C,H,W] -> x * y, y [B,C,1,1] as described by EcaVariant. The conv slides over the
  /// channel index (descriptors as [B,1,C]); its output must keep C channels.
  /// Probe: channel_weight [B,C].
  torch::Tensor forward(const torch::Tensor& x);

  EcaOptions options;
  torch::nn::Conv1d conv{nullptr};
};
TORCH_MODULE(Eca);

ModuleDescriptor ecaDescriptor();

}  // namespace fl
