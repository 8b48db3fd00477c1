#pragma once
/// Gated fusion of two inputs after GMAN's gatedFusion:
/// Zheng et al., "GMAN: A Graph Multi-Attention Network for Traffic Prediction", AAAI 2020
/// (arXiv 1911.08415); modules.md §3. Default: the simplified seed-002 form; option: the GMAN
/// original of `VincLee8188/GMAN-PyTorch:model/model_.py` (its key names).
#include <torch/nn/cloneable.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "core/modules/descriptor.h"

namespace fl {

/// seed: z = sigmoid(fc1(x1) + fc2(x2)), out = z x1 + (1 - z) x2 (Linear layers with bias,
/// keys fc1.*, fc2.*). gman: z = sigmoid(BN(conv(x1)) + BN(conv(x2) + b)) with the first conv
/// bias-free, H = z x1 + (1 - z) x2, out = FC_h(H) with FC_h = (1x1 conv + BN + ReLU, 1x1 conv
/// + BN); keys FC_xs.*, FC_xt.*, FC_h.* as GMAN-PyTorch's FC/conv2d_ classes.
enum class GatedFusionVariant { Seed, Gman };

struct GatedFusionOptions {
  explicit GatedFusionOptions(int64_t dim) : dim_(dim) {}
  /// D: the channel count (the last dim of the seed's channels-last inputs).
  TORCH_ARG(int64_t, dim);
  TORCH_ARG(GatedFusionVariant, variant) = GatedFusionVariant::Seed;
};

/// GMAN-PyTorch's `conv2d_` with a 1x1 kernel: `conv` (bias optional), `batch_norm`, then ReLU
/// when `relu`. On NCHW input [B,D,H,W] -> [B,D,H,W] (GMAN permutes channels-last data to
/// [B,D,N,T] around it; a 1x1 conv is per pixel, so the layout does not matter).
class GmanConvImpl : public torch::nn::Cloneable<GmanConvImpl> {
 public:
  GmanConvImpl(int64_t dim, bool bias, bool relu);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x);

  int64_t dim;
  bool bias, relu;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d batch_norm{nullptr};
};
TORCH_MODULE(GmanConv);

/// GMAN-PyTorch's `FC`: `convs`, a ModuleList of GmanConv applied in order.
class GmanFcImpl : public torch::nn::Cloneable<GmanFcImpl> {
 public:
  /// One GmanConv per entry of `relus` (its ReLU flag), all D -> D with bias `bias`.
  GmanFcImpl(int64_t dim, bool bias, std::vector<bool> relus);
  void reset() override;
  torch::Tensor forward(torch::Tensor x);

  int64_t dim;
  bool bias;
  std::vector<bool> relus;
  torch::nn::ModuleList convs{nullptr};
};
TORCH_MODULE(GmanFc);

class GatedFusionImpl : public torch::nn::Cloneable<GatedFusionImpl> {
 public:
  explicit GatedFusionImpl(const GatedFusionOptions& options);
  void reset() override;
  /// x1, x2 [B,C,H,W] -> [B,C,H,W] as described by GatedFusionVariant; the seed's Linear
  /// layers act on the channel vector of every pixel (its channels-last layout).
  /// Probe: gate = z [B,C,H,W] (the weight of x1; x2 gets 1 - z).
  torch::Tensor forward(const torch::Tensor& x1, const torch::Tensor& x2);

  GatedFusionOptions options;
  torch::nn::Linear fc1{nullptr};  ///< seed
  torch::nn::Linear fc2{nullptr};  ///< seed
  GmanFc FC_xs{nullptr};           ///< gman: on x1 (GMAN's HS), conv without bias
  GmanFc FC_xt{nullptr};           ///< gman: on x2 (GMAN's HT)
  GmanFc FC_h{nullptr};            ///< gman: output FC, two layers

 private:
  /// sigmoid(fc1(x1) + fc2(x2)) computed on NCHW directly: W x_b + b per batch element as
  /// [C,C] x [C,H*W] products, so no channels-last copies are made.
  torch::Tensor seedGate(const torch::Tensor& x1, const torch::Tensor& x2);
};
TORCH_MODULE(GatedFusion);

ModuleDescriptor gatedFusionDescriptor();

}  // namespace fl
