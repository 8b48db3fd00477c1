#pragma once
// Internal to core/modules/ (and its tests): not part of the core's public headers.
/// Tensor helpers shared by the module forwards, chosen for speed on the CPU (bench/results.md):
/// values-only reductions and 1x1 convolutions on pooled vectors as one matrix product.
/// Header-only: each function is one or two ATen calls.
#include <ATen/ATen.h>
#include <torch/nn/modules/conv.h>

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

}  // namespace fl::ops
