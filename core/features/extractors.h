#pragma once
/// Internal to core/features/ (and its tests): the extractors behind computeFeatures (core/features/features.cpp).
#include <ATen/core/Tensor.h>

#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "core/features/features.h"

namespace fl::detail {

/// Output size for a stride: ceil(n / stride), at least 1.
inline int pooledSize(int n, int64_t stride) {
  return static_cast<int>(std::max<int64_t>(1, (n + stride - 1) / stride));
}

/// filter_bank.cpp: rgb CV_32FC3 in [0,1] -> [1,channels,ceil(H/s),ceil(W/s)], unstandardised.
at::Tensor filterBank(const cv::Mat& rgb, int64_t channels, int64_t stride);
std::vector<std::string> filterBankNames(int64_t channels);

/// random_stem.cpp: [1,3,H,W] in [0,1] -> [1,channels,ceil(H/s),ceil(W/s)], unstandardised.
at::Tensor randomStem(const at::Tensor& image, int64_t channels, int64_t stride, uint64_t seed);

/// torchscript_backbone.cpp: [1,3,H,W] -> the model's [B,C,H',W'] output, float32 CPU.
at::Tensor torchscriptFeatures(const at::Tensor& image, const std::string& path, int64_t output);

}  // namespace fl::detail
