#pragma once
// Tensor checks shared by the core tests: the parity bound, random weights with random
// BatchNorm statistics, and a substring test for messages.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <cstdint>
#include <string>

namespace fl::test {

/// |got - want| <= 1e-5 + 1e-5 |want| everywhere, same shape, no NaN; reports the worst element.
inline void expectClose(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << ": undefined";
  ASSERT_TRUE(want.defined()) << what << ": reference undefined";
  ASSERT_EQ(got.sizes().vec(), want.sizes().vec()) << what << ": shape differs";
  const auto g = got.to(at::kDouble);
  const auto w = want.to(at::kDouble);
  const auto err = (g - w).abs();
  const auto bad = (err > 1e-5 + 1e-5 * w.abs()).logical_or(err.isnan());
  const int64_t nbad = bad.sum().item<int64_t>();
  EXPECT_EQ(nbad, 0) << what << ": " << nbad << " of " << want.numel()
                     << " elements beyond 1e-5, max abs error " << err.max().item<double>();
}

/// Random weights and BatchNorm statistics (so every bias and BN matters); eval mode.
inline void randomize(torch::nn::Module& m, uint64_t seed) {
  torch::NoGradGuard noGrad;
  torch::manual_seed(seed);
  for (auto& p : m.named_parameters()) p.value().uniform_(-0.4, 0.4);
  for (auto& b : m.named_buffers()) {
    const std::string& k = b.key();
    const auto endsWith = [&k](const std::string& tail) {
      return k.size() >= tail.size() && k.compare(k.size() - tail.size(), tail.size(), tail) == 0;
    };
    if (endsWith("running_mean")) b.value().normal_(0, 0.2);
    if (endsWith("running_var")) b.value().uniform_(0.5, 1.5);
  }
  m.eval();
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace fl::test
