#pragma once
// Internal to core/modules/ (cmgm and its tests): not part of the core's public headers.
/// CMGM's second output without LibTorch's convolution (modules.md §8, step 11):
/// cam = ReLU(BN(conv3x3_{h->h}(attn + attn^T))) over the [N, N] "image" of each head.
/// LibTorch 1.13's CPU conv is im2col plus a thin matrix product (M = h = 8) over a
/// 9.8-megapixel image at N = 3136, and attn + attn^T, BN and ReLU are full passes of their own;
/// here the eval BatchNorm is folded into the conv's weights and bias, and each band of rows is
/// symmetrised into a small buffer and convolved directly, ReLU fused, in parallel over bands.
/// Equal to the LibTorch composition up to float summation order (about 1e-7 relative).
#include <ATen/core/Tensor.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>

#include <cstdint>
#include <vector>

namespace fl::cam {

/// Output rows per band of camFromAttention (it reads one halo row above and below each band).
constexpr int64_t kBandRows = 32;

/// The conv with the BatchNorm folded in: weights in blocks of 8 output channels laid out
/// [block][in][tap][8] (zeros past `out`), bias [blocks * 8].
struct FoldedConv {
  int64_t in = 0, out = 0;
  std::vector<float> w, b;
};

/// Whether the direct kernels apply: an eval-mode BatchNorm with running statistics (training
/// mode normalises by the batch's statistics, which only LibTorch's path does), a 3x3 stride-1
/// padding-1 conv, float32 CPU tensors, and nothing that autograd would have to record.
bool usable(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn,
            const at::Tensor& attn);

/// W' = W s, b' = (b - mean) s + beta with s = gamma / sqrt(var + eps), from the modules'
/// current tensors (so loaded weights and statistics stay authoritative).
FoldedConv fold(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn);

/// cam [B,h,N,N] from the full attention attn [B,h,N,N]; bands of kBandRows rows in parallel
/// over LibTorch's threads, progress ("cam") reported between groups of bands.
at::Tensor camFromAttention(const at::Tensor& attn, const FoldedConv& f);

/// Rows [r0, r0 + m) of cam [B,h,N,N] (contiguous) from sym [B,h,len,N]: rows [s0, s0 + len)
/// of attn + attn^T, which must include the rows r0 - 1 and r0 + m where they exist.
void camRowsFromSym(const at::Tensor& sym, int64_t s0, int64_t r0, int64_t m,
                    const FoldedConv& f, at::Tensor& cam);

/// Working bytes of camFromAttention beyond its input and output: one band buffer per thread.
int64_t camBandBytes(int64_t heads, int64_t n);

}  // namespace fl::cam
