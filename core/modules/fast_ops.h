#pragma once
// Internal to core/modules/ (and its tests): not part of the core's public headers.
/// Tensor helpers shared by the module forwards, chosen for speed on the CPU (bench/results.md):
/// values-only reductions and 1x1 convolutions on pooled vectors as one matrix product.
/// Header-only: each function is one or two ATen calls.
#include <ATen/ATen.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include <utility>

namespace fl::ops {

/// Global max over H,W: x [B,C,H,W] -> [B,C]. Values only: adaptive_max_pool2d(x, 1) and
/// x.max(dim) also compute argmax indices and are several times slower.
inline at::Tensor globalMax(const at::Tensor& x) { return at::amax(x, {2, 3}); }

/// Global mean over H,W: x [B,C,H,W] -> [B,C].
inline at::Tensor globalMean(const at::Tensor& x) { return x.mean({2, 3}); }

/// Channel max and mean, max first: x [B,C,H,W] -> [B,2,H,W] (the CBAM "channel pool").
inline at::Tensor channelMaxMean(const at::Tensor& x) {
  return at::cat({at::amax(x, {1}, /*keepdim=*/true), x.mean({1}, /*keepdim=*/true)}, 1);
}

/// A 1x1 Conv2d applied to vectors: rows [M,Cin] -> [M,Cout]. The same numbers as the conv on
/// [M,Cin,1,1] (up to summation order), as one matrix product instead of a convolution call.
inline at::Tensor conv1x1Rows(const torch::nn::Conv2dImpl& conv, const at::Tensor& rows) {
  const at::Tensor& w = conv.weight;  // [Cout,Cin,1,1]
  return at::linear(rows, w.view({w.size(0), w.size(1)}), conv.bias);  // bias may be undefined
}

/// Whether `bn` can be folded into the conv before it: eval mode, affine, running statistics.
inline bool foldable(const torch::nn::BatchNorm2dImpl& bn) {
  return !bn.is_training() && bn.options.affine() && bn.running_mean.defined() &&
         bn.running_var.defined();
}

/// A 1x1 conv followed by an eval-mode BatchNorm as one affine map: W' = W s and
/// b' = (b - mean) s + beta with s = gamma / sqrt(var + eps). Returns {W' [Cout,Cin], b' [Cout]}.
/// Cheap (weight-sized); folding per forward keeps loaded weights and statistics authoritative.
inline std::pair<at::Tensor, at::Tensor> foldConvBn(const torch::nn::Conv2dImpl& conv,
                                                    const torch::nn::BatchNorm2dImpl& bn) {
  const at::Tensor& w = conv.weight;
  const auto scale = bn.weight * at::rsqrt(bn.running_var + bn.options.eps());
  auto folded_w = w.view({w.size(0), w.size(1)}) * scale.unsqueeze(1);
  auto shift = conv.bias.defined() ? conv.bias - bn.running_mean : -bn.running_mean;
  return {std::move(folded_w), shift.mul_(scale).add_(bn.bias)};
}

/// out[b] = w x[b] + bias[b] for x [B,Cin,H,W] (any layout), w [Cout,Cin], bias [B,Cout]: a 1x1
/// convolution as one matrix product per image, the bias written by the product itself
/// (addmm), with an optional ReLU in place. One full-size allocation.
inline at::Tensor pointwise(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                            bool relu) {
  const int64_t batch = x.size(0), cin = x.size(1), hw = x.size(2) * x.size(3);
  const auto xc = x.contiguous();
  auto out = at::empty({batch, w.size(0), x.size(2), x.size(3)}, x.options());
  for (int64_t i = 0; i < batch; ++i) {
    auto dst = out[i].view({w.size(0), hw});
    at::addmm_out(dst, bias[i].unsqueeze(1), w, xc[i].view({cin, hw}));
    if (relu) dst.relu_();
  }
  return out;
}

}  // namespace fl::ops
