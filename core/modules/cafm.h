#pragma once
/// CAFM, the cross-attention fusion module of
/// Zhou et al., "Attention Multihop Graph and Multiscale Convolutional Fusion Network for
/// Hyperspectral Image Classification", IEEE TGRS 2023 (doi 10.1109/TGRS.2023.3265879);
/// seed 000, official `EdwardHaoz/IEEE_TGRS_AMGCFN:net_AMGCFN.py` (modules.md §1).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/pimpl.h>

#include <utility>

#include "core/modules/descriptor.h"

namespace fl {

struct CafmOptions {
  explicit CafmOptions(int64_t channels) : channels_(channels) {}
  TORCH_ARG(int64_t, channels);
  /// Width of the channel MLPs (hard-coded 64 in the seed and the official code).
  TORCH_ARG(int64_t, hidden) = 64;
  /// Return the seed's batch-dependent layout (o.squeeze(0).transpose(0, 1) on [B,C,N]:
  /// [N,C] for B = 1, [C,B,N] for B > 1) instead of [B,C,H,W]. Same values.
  TORCH_ARG(bool, legacy_layout) = false;
};

class CafmImpl : public torch::nn::Cloneable<CafmImpl> {
 public:
  explicit CafmImpl(const CafmOptions& options);
  void reset() override;
  /// f1, f2 [B,C,H,W] (same shape) -> {f1 * (1 + s1), f2 * (1 + s2)}, both [B,C,H,W]
  /// (with legacy_layout: [N,C] for B = 1, [C,B,N] for B > 1).
  /// a_k = MLP_avg(mean_N f_k) + MLP_max(max_N f_k) [B,C,1] are raw channel logits (separate
  /// avg/max MLPs); cross = a1 a2^T [B,C,C]; A1 = softmax(cross) f1, A2 = softmax(cross^T) f2
  /// [B,C,N]; s_k = softmax over all N of conv2(ReLU(conv1([mean_c A_k, max_c A_k]))), avg
  /// first, the two spatial convs shared (modules.md §1).
  /// Probes: cross [B,C,C] (logits), spatial1, spatial2 [B,1,H,W] (each sums to 1).
  std::pair<torch::Tensor, torch::Tensor> forward(const torch::Tensor& f1, const torch::Tensor& f2);

  CafmOptions options;
  torch::nn::Conv2d conv1_spatial{nullptr};
  torch::nn::Conv2d conv2_spatial{nullptr};
  torch::nn::Conv2d avg1{nullptr}, avg2{nullptr}, max1{nullptr}, max2{nullptr};
  torch::nn::Conv2d avg11{nullptr}, avg22{nullptr}, max11{nullptr}, max22{nullptr};

 private:
  /// fr [B,C,N] -> channel logits [B,C,1].
  torch::Tensor channelLogits(const torch::Tensor& fr, torch::nn::Conv2d& avgIn,
                              torch::nn::Conv2d& avgOut, torch::nn::Conv2d& maxIn,
                              torch::nn::Conv2d& maxOut);
  /// A [B,C,N] -> [mean_c A, max_c A] as [B,2,H,W].
  torch::Tensor channelPool(const torch::Tensor& a, int64_t h, int64_t w);
  /// pooled [M,2,H,W] -> softmax over H*W of conv2(ReLU(conv1(pooled))) as [M,1,N].
  torch::Tensor spatialSoftmax(const torch::Tensor& pooled);
};
TORCH_MODULE(Cafm);

ModuleDescriptor cafmDescriptor();

}  // namespace fl
