// cmgm's direct CPU kernels (core/modules/cmgm_cam.h, attentionWithMatrix in
// fused_attention.h) against the LibTorch composition they replace; the LibTorch path stays
// for training-mode BatchNorm.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <vector>

#include "core/modules/cmgm.h"
#include "core/modules/cmgm_cam.h"
#include "core/modules/fused_attention.h"
#include "core/run/memory_meter.h"
#include "tensor_checks.h"

namespace fl {
namespace {

using test::expectClose;
using test::randomize;

/// ReLU(BN(conv3x3(a + a^T))) by LibTorch, BN in eval mode.
at::Tensor libtorchCam(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, const at::Tensor& a) {
  return at::relu(bn->forward(conv->forward(a + a.transpose(-2, -1))));
}

struct CamCase {
  int64_t b, h, n;
};

TEST(CmgmCam, FoldedDirectConvEqualsConvBatchNormRelu) {
  torch::NoGradGuard noGrad;
  // N = 1 and 2 (no interior column block), N not a multiple of the 32-column block or the
  // 32-row band (35, 99: several bands, a short last one), B = 2, heads that are not 8 (3: a
  // partial output block; 12: two blocks).
  const std::vector<CamCase> cases = {{1, 8, 1}, {1, 8, 2},  {2, 8, 35},
                                      {2, 8, 99}, {1, 3, 40}, {1, 12, 70}};
  for (const auto& c : cases) {
    SCOPED_TRACE("B " + std::to_string(c.b) + " h " + std::to_string(c.h) + " N " +
                 std::to_string(c.n));
    torch::manual_seed(c.n * 7 + c.h);
    torch::nn::Conv2d conv(torch::nn::Conv2dOptions(c.h, c.h, 3).padding(1));
    torch::nn::BatchNorm2d bn(c.h);
    randomize(*conv, 1);
    randomize(*bn, 2);
    conv->eval();
    bn->eval();
    // values of order 1 (not attention-sized), so summation errors would show
    const auto a = at::randn({c.b, c.h, c.n, c.n});
    ASSERT_TRUE(cam::usable(*conv, *bn, a));
    const auto folded = cam::fold(*conv, *bn);
    const auto want = libtorchCam(conv, bn, a);
    expectClose(cam::camFromAttention(a, folded), want, "cam from the full matrix");

    // row chunks from symmetrised rows with their halo, as cmgm's chunked plan calls it
    auto got = at::full({c.b, c.h, c.n, c.n}, -1.0f);
    const auto sym = a + a.transpose(-2, -1);
    for (int64_t r0 = 0; r0 < c.n; r0 += 4) {
      const int64_t m = std::min<int64_t>(4, c.n - r0);
      const int64_t s0 = std::max<int64_t>(0, r0 - 1);
      const int64_t len = std::min<int64_t>(c.n, r0 + m + 1) - s0;
      cam::camRowsFromSym(sym.narrow(2, s0, len), s0, r0, m, folded, got);
    }
    expectClose(got, want, "cam from row chunks");
  }
}

TEST(CmgmCam, TrainingModeBatchNormKeepsLibTorchsPath) {
  torch::NoGradGuard noGrad;
  Cmgm m(CmgmOptions(64));
  randomize(*m, 3);
  torch::manual_seed(4);
  const auto x = at::randn({2, 64, 5, 7}), y = at::randn({2, 64, 5, 7});
  // default selection: every output, so cam is computed
  std::vector<int64_t> all(35);
  for (int64_t i = 0; i < 35; ++i) all[i] = i;
  const auto attn = m->attentionRows(x, y, all);
  ASSERT_TRUE(cam::usable(*m->conv, *m->bn, attn));
  m->train();
  EXPECT_FALSE(cam::usable(*m->conv, *m->bn, attn)) << "training BN folded with running stats";
  // training mode normalises by the batch's statistics
  const auto c = m->conv->forward(attn + attn.transpose(-2, -1));
  const auto want = at::relu(at::batch_norm(c, m->bn->weight, m->bn->bias, {}, {},
                                            /*training=*/true, 0.1, 1e-5, false));
  const auto got = m->forward(x, y).second;
  expectClose(got, want, "cam with training-mode BatchNorm");
}

TEST(CmgmCam, AttentionWithMatrixEqualsSoftmaxAndMatmul) {
  torch::NoGradGuard noGrad;
  // 8 x 1100^2 floats = 37 MiB: emptyLarge's huge-page mapping; 99 rows: a partial row block
  for (const auto& [b, n] : std::vector<std::pair<int64_t, int64_t>>{{2, 99}, {1, 1100}}) {
    SCOPED_TRACE("B " + std::to_string(b) + " N " + std::to_string(n));
    torch::manual_seed(n);
    const auto q = at::randn({b, 8, n, 8}), k = at::randn({b, 8, n, 8});
    const auto v = at::randn({b, 8, n, 8});
    const auto want = at::softmax(at::matmul(q, k.transpose(-2, -1)) * 0.35, -1);
    auto attn = attn::emptyLarge({b, 8, n, n}, q.options());
    // strided q, as cmgm passes its projections
    const auto qs = q.transpose(-2, -1).contiguous().transpose(-2, -1);
    const auto out = attn::attentionWithMatrix(qs, k, v, 0.35, attn);
    expectClose(attn, want, "attention matrix");
    expectClose(out, at::matmul(want, v), "attention output");
  }
}

// The [N, N] buffers come from LibTorch's allocator, so a job's memory meter (and its budget,
// which hooks the same allocator) sees them; huge-page advice must not hide them.
TEST(CmgmCam, LargeBuffersAreCountedByTheMemoryMeter) {
  MemoryMeter meter;
  const int64_t bytes = int64_t{8} * 1100 * 1100 * 4;  // over emptyLarge's 32 MiB threshold
  {
    auto t = attn::emptyLarge({1, 8, 1100, 1100}, at::TensorOptions().dtype(at::kFloat));
    t.fill_(1.0f);
    EXPECT_GE(meter.currentBytes(), bytes);
  }
  EXPECT_GE(meter.peakBytes(), bytes);
  EXPECT_LT(meter.currentBytes(), bytes) << "freed with the tensor";
}

}  // namespace
}  // namespace fl
