// The seeded random-convolution stem (docs/features.md, "random"): log2(stride) layers (one
// when stride is 1) of 3x3 conv (stride 2, padding 1; He-normal weights, no bias) ->
// per-channel instance normalisation -> ReLU, widths 16, 32, 64, ... capped at
// max(channels, 16), then a 3x3 stride-1 conv to `channels` outputs. The input is the RGB
// image mapped to [-1,1]. All weights come from one CPU generator seeded with `seed`, drawn
// layer by layer, so a seed always gives the same features.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/features/extractors.h"

namespace fl::detail {
namespace {

at::Tensor heNormal(int64_t out, int64_t in, at::Generator& gen) {
  const double sd = std::sqrt(2.0 / static_cast<double>(in * 9));
  return at::normal(0.0, sd, {out, in, 3, 3}, gen, at::TensorOptions().dtype(at::kFloat));
}

at::Tensor instanceNorm(const at::Tensor& x) {
  const at::Tensor mean = x.mean({2, 3}, /*keepdim=*/true);
  const at::Tensor var = (x - mean).pow(2).mean({2, 3}, /*keepdim=*/true);
  return (x - mean) / (var + 1e-5).sqrt();
}

}  // namespace

at::Tensor randomStem(const at::Tensor& image, int64_t channels, int64_t stride, uint64_t seed) {
  at::NoGradGuard noGrad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  int64_t layers = 0;
  while ((int64_t{1} << layers) < stride) ++layers;
  const bool downsample = layers > 0;
  layers = std::max<int64_t>(layers, 1);

  at::Tensor x = image.to(at::kFloat) * 2.0 - 1.0;
  int64_t in = x.size(1);
  const int64_t cap = std::max<int64_t>(channels, 16);
  for (int64_t i = 0; i < layers; ++i) {
    const int64_t width = std::min<int64_t>(cap, int64_t{16} << std::min<int64_t>(i, 20));
    const at::Tensor w = heNormal(width, in, gen);
    const int64_t step = downsample ? 2 : 1, pad = 1;
    x = at::conv2d(x, w, {}, at::IntArrayRef(step), at::IntArrayRef(pad));
    x = at::relu(instanceNorm(x));
    in = width;
  }
  const at::Tensor w = heNormal(channels, in, gen);
  const int64_t one = 1;
  return at::conv2d(x, w, {}, at::IntArrayRef(one), at::IntArrayRef(one)).contiguous();
}

}  // namespace fl::detail
