#include "core/modules/fused_attention.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "core/common/cpu_clones.h"
#include "core/common/huge_pages.h"
#include "core/modules/progress.h"

namespace fl::attn {

namespace {

/// exp(x) for x <= 0 (scores minus their running maximum), branch-free so the loops that call
/// it vectorise: Cephes' expf (range reduction by ln 2, degree-6 polynomial), within 2 ulp of
/// std::exp on [-87, 0]; below -87 (and at -inf) it returns 0 where exp gives less than 2e-38,
/// which changes a softmax sum by less than float rounding; NaN stays NaN. No float->int
/// conversion and no conditional on a computed value: GCC (trapping math, the default) will
/// not if-convert those, and the loop stayed scalar.
inline float expNonPositive(float x) {
  const float fx = x * 1.44269504088896341f;
  // round to nearest with the 1.5 * 2^23 trick (no -ffast-math, no SSE4.1 roundps needed);
  // the low bits of `big` then hold n as a two's complement integer
  const float big = fx + 12582912.0f;
  const float n = big - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  uint32_t bits;
  std::memcpy(&bits, &big, sizeof bits);
  const uint32_t e = (bits - 0x4B400000u + 127u) << 23;  // 2^n (unsigned: wraps, no UB)
  float scaleBits;
  std::memcpy(&scaleBits, &e, sizeof scaleBits);
  const float v = y * scaleBits;
  // below -87 2^n is no longer a normal float: 0 instead, by a mask (NaN is kept)
  const uint32_t keep = 0u - static_cast<uint32_t>(!(x < -87.0f));
  uint32_t vb;
  std::memcpy(&vb, &v, sizeof vb);
  vb &= keep;
  float out;
  std::memcpy(&out, &vb, sizeof out);
  return out;
}

}  // namespace

namespace detail {

struct Tile {
  std::vector<float> scores;  // [queryBlock, keyBlock]
  std::vector<float> acc;     // [queryBlock, d]
  std::vector<float> rowMax, rowSum;
};

/// One block of query rows of one (batch, head) against all keys. q: [rows, d] (row stride
/// d), kT and vT: [d, nk] (keys and values transposed, row stride nk), bias: [rows, nk] or null
/// (row stride biasStride); out: [rows, d]; lse: [rows] or null.
FL_CPU_CLONES void attendBlock(
    const float* q, int64_t rows, int64_t d, const float* kT, const float* vT, int64_t nk,
    const float* bias, int64_t biasStride, float scale, float* out, float* lse, Tile& t) {
  const int64_t kb = kFusedKeyBlock;
  float* acc = t.acc.data();
  float* m = t.rowMax.data();
  float* l = t.rowSum.data();
  std::fill(acc, acc + rows * d, 0.0f);
  std::fill(m, m + rows, -std::numeric_limits<float>::infinity());
  std::fill(l, l + rows, 0.0f);
  for (int64_t j0 = 0; j0 < nk; j0 += kb) {
    const int64_t cols = std::min(kb, nk - j0);
    for (int64_t i = 0; i < rows; ++i) {
      float* s = t.scores.data() + i * kb;
      // s = scale * q_i . k_j over the block. Head size 8 (cmgm, osra at 64 channels): 32
      // scores at a time summed in registers over the 8 key rows; else (and for the block's
      // tail) d passes over s. The same products summed in the same order either way.
      int64_t js = 0;
      if (d == 8) {
        float qs[8];
        for (int c = 0; c < 8; ++c) qs[c] = q[i * 8 + c] * scale;
        for (; js + 32 <= cols; js += 32) {
          float t[32] = {};
#pragma GCC unroll 8
          for (int c = 0; c < 8; ++c) {
            const float* kr = kT + c * nk + j0 + js;
            for (int u = 0; u < 32; ++u) t[u] += qs[c] * kr[u];
          }
          for (int u = 0; u < 32; ++u) s[js + u] = t[u];
        }
      }
      std::fill(s + js, s + cols, 0.0f);
      for (int64_t c = 0; c < d; ++c) {
        const float qc = q[i * d + c] * scale;
        const float* kr = kT + c * nk + j0;
        for (int64_t j = js; j < cols; ++j) s[j] += qc * kr[j];
      }
      if (bias) {
        const float* br = bias + i * biasStride + j0;
        for (int64_t j = 0; j < cols; ++j) s[j] += br[j];
      }
      // running maximum: 8 lanes so the reduction vectorises without -ffast-math
      float lanes[8];
      for (float& x : lanes) x = m[i];
      int64_t j = 0;
      for (; j + 8 <= cols; j += 8) {
        for (int u = 0; u < 8; ++u) lanes[u] = s[j + u] > lanes[u] ? s[j + u] : lanes[u];
      }
      float mx = lanes[0];
      for (int u = 1; u < 8; ++u) mx = lanes[u] > mx ? lanes[u] : mx;
      for (; j < cols; ++j) mx = s[j] > mx ? s[j] : mx;
      const float correction = expNonPositive(m[i] - mx);  // 0 on the first block (m = -inf)
      for (int64_t jj = 0; jj < cols; ++jj) s[jj] = expNonPositive(s[jj] - mx);
      float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      j = 0;
      for (; j + 8 <= cols; j += 8) {
        for (int u = 0; u < 8; ++u) sums[u] += s[j + u];
      }
      float sum = 0;
      for (float x : sums) sum += x;
      for (; j < cols; ++j) sum += s[j];
      l[i] = l[i] * correction + sum;
      m[i] = mx;
      float* a = acc + i * d;
      for (int64_t c = 0; c < d; ++c) a[c] *= correction;
      // a += sum_j p_j v_j: one dot product over the block per value channel, along
      // contiguous rows of vT (vectorises over j; over c, with d = 8, it would not fill a vector)
      for (int64_t c = 0; c < d; ++c) {
        const float* vr = vT + c * nk + j0;
        // 32 partial sums: four independent vector chains, not one latency-bound FMA chain
        float dots[32] = {};
        int64_t jv = 0;
        for (; jv + 32 <= cols; jv += 32) {
          for (int u = 0; u < 32; ++u) dots[u] += s[jv + u] * vr[jv + u];
        }
        float dot = 0;
        for (float x : dots) dot += x;
        for (; jv < cols; ++jv) dot += s[jv] * vr[jv];
        a[c] += dot;
      }
    }
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float inv = 1.0f / l[i];
    for (int64_t c = 0; c < d; ++c) out[i * d + c] = acc[i * d + c] * inv;
    if (lse) lse[i] = m[i] + std::log(l[i]);
  }
}

/// Rows of one (batch, head) with the matrix written: q [rows, d], kT and vT [d, nk], attn
/// [rows, nk] (output), out [rows, d]. Per row: scores into attn, max, exp, sum, normalise,
/// then out = attn_row . vT (d dot products) while the row is still in cache.
FL_CPU_CLONES void attendRows(
    const float* q, int64_t rows, int64_t d, const float* kT, const float* vT, int64_t nk,
    float scale, float* attn, float* out) {
  for (int64_t i = 0; i < rows; ++i) {
    float* s = attn + i * nk;
    {
      const float q0 = q[i * d] * scale;
      for (int64_t j = 0; j < nk; ++j) s[j] = q0 * kT[j];
    }
    for (int64_t c = 1; c < d; ++c) {
      const float qc = q[i * d + c] * scale;
      const float* kr = kT + c * nk;
      for (int64_t j = 0; j < nk; ++j) s[j] += qc * kr[j];
    }
    // maximum and sum in 8 lanes so the reductions vectorise without -ffast-math
    float lanes[8];
    for (float& x : lanes) x = -std::numeric_limits<float>::infinity();
    int64_t j = 0;
    for (; j + 8 <= nk; j += 8) {
      for (int u = 0; u < 8; ++u) lanes[u] = s[j + u] > lanes[u] ? s[j + u] : lanes[u];
    }
    float mx = lanes[0];
    for (int u = 1; u < 8; ++u) mx = lanes[u] > mx ? lanes[u] : mx;
    for (; j < nk; ++j) mx = s[j] > mx ? s[j] : mx;
    for (int64_t jj = 0; jj < nk; ++jj) s[jj] = expNonPositive(s[jj] - mx);
    float sums[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    j = 0;
    for (; j + 8 <= nk; j += 8) {
      for (int u = 0; u < 8; ++u) sums[u] += s[j + u];
    }
    float sum = 0;
    for (float x : sums) sum += x;
    for (; j < nk; ++j) sum += s[j];
    const float inv = 1.0f / sum;
    for (int64_t jj = 0; jj < nk; ++jj) s[jj] *= inv;
    for (int64_t c = 0; c < d; ++c) {
      const float* vr = vT + c * nk;
      float acc[32] = {};  // four independent vector chains (see attendBlock)
      j = 0;
      for (; j + 32 <= nk; j += 32) {
        for (int u = 0; u < 32; ++u) acc[u] += s[j + u] * vr[j + u];
      }
      float dot = 0;
      for (float x : acc) dot += x;
      for (; j < nk; ++j) dot += s[j] * vr[j];
      out[i * d + c] = dot;
    }
  }
}

}  // namespace detail

at::Tensor attentionWithMatrix(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               double scale, at::Tensor& attn) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "attentionWithMatrix: 4-d q, k, v");
  TORCH_CHECK(q.scalar_type() == at::kFloat && q.device().is_cpu(),
              "attentionWithMatrix: float32 CPU tensors");
  const int64_t b = q.size(0), h = q.size(1), n = q.size(2), d = q.size(3), nk = k.size(2);
  TORCH_CHECK(k.size(0) == b && k.size(1) == h && k.size(3) == d && v.sizes() == k.sizes() &&
                  attn.is_contiguous() && attn.scalar_type() == at::kFloat &&
                  attn.sizes() == at::IntArrayRef({b, h, n, nk}),
              "attentionWithMatrix: k ", k.sizes(), ", v ", v.sizes(), " and attn ",
              attn.sizes(), " do not fit q ", q.sizes());
  const auto qc = q.contiguous();
  const auto kT = k.transpose(-2, -1).contiguous();  // [B,h,d,Nk]
  const auto vT = v.transpose(-2, -1).contiguous();  // [B,h,d,Nk]
  auto out = at::empty({b, h, n, d}, q.options());
  if (n == 0 || nk == 0 || d == 0) return out;
  const int64_t qb = kFusedQueryBlock;
  const int64_t blocks = (n + qb - 1) / qb;
  const int64_t items = b * h * blocks;
  const float s = static_cast<float>(scale);
  const float* qp = qc.data_ptr<float>();
  const float* kp = kT.data_ptr<float>();
  const float* vp = vT.data_ptr<float>();
  float* ap = attn.data_ptr<float>();
  float* op = out.data_ptr<float>();
  auto work = [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t bh = item / blocks, r0 = (item % blocks) * qb;
      detail::attendRows(qp + (bh * n + r0) * d, std::min(qb, n - r0), d, kp + bh * d * nk,
                         vp + bh * d * nk, nk, s, ap + (bh * n + r0) * nk,
                         op + (bh * n + r0) * d);
    }
  };
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t band = std::max<int64_t>(threads * 4, (items + 199) / 200);
  for (int64_t i0 = 0; i0 < items; i0 += band) {
    const int64_t i1 = std::min(items, i0 + band);
    at::parallel_for(i0, i1, 1, work);
    progress::step("attention", i1, items);
  }
  return out;
}

at::Tensor emptyLarge(at::IntArrayRef sizes, const at::TensorOptions& options) {
  // LibTorch's allocator, so that the job's memory meter and budget (core/run/memory_meter.h,
  // memory_limit.h) see it; only the advice is added, before anything touches the pages.
  auto t = at::empty(sizes, options);
  const int64_t bytes = t.numel() * static_cast<int64_t>(t.element_size());
  if (t.device().is_cpu() && bytes >= (int64_t{32} << 20)) {
    adviseHugePages(t.data_ptr(), static_cast<size_t>(bytes));
  }
  return t;
}

at::Tensor fusedAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          double scale, const at::Tensor& bias, at::Tensor* lse) {
  TORCH_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, "fusedAttention: 4-d q, k, v");
  TORCH_CHECK(q.scalar_type() == at::kFloat && q.device().is_cpu(),
              "fusedAttention: float32 CPU tensors");
  const int64_t b = q.size(0), h = q.size(1), n = q.size(2), d = q.size(3), nk = k.size(2);
  TORCH_CHECK(k.size(0) == b && k.size(1) == h && k.size(3) == d && v.sizes() == k.sizes(),
              "fusedAttention: k ", k.sizes(), " and v ", v.sizes(), " do not fit q ",
              q.sizes());
  const auto qc = q.contiguous();
  const auto kT = k.transpose(-2, -1).contiguous();  // [B,h,d,Nk]: score rows read keys in order
  const auto vT = v.transpose(-2, -1).contiguous();  // [B,h,d,Nk]: dot products along keys
  at::Tensor bc;
  if (bias.defined()) {
    TORCH_CHECK(bias.dim() == 4 && (bias.size(0) == 1 || bias.size(0) == b) &&
                    bias.size(1) == h && bias.size(2) == n && bias.size(3) == nk,
                "fusedAttention: bias ", bias.sizes(), " is not [1|B, h, N, Nk]");
    bc = bias.to(at::kFloat).contiguous();
  }
  auto out = at::empty({b, h, n, d}, q.options());
  if (lse) *lse = at::empty({b, h, n}, q.options());
  if (n == 0 || nk == 0 || d == 0) return out;

  const int64_t qb = kFusedQueryBlock;
  const int64_t blocks = (n + qb - 1) / qb;
  const int64_t items = b * h * blocks;  // one item = a block of query rows of one head
  const float s = static_cast<float>(scale);
  const float* qp = qc.data_ptr<float>();
  const float* kp = kT.data_ptr<float>();
  const float* vp = vT.data_ptr<float>();
  const float* bp = bc.defined() ? bc.data_ptr<float>() : nullptr;
  float* op = out.data_ptr<float>();
  float* lp = lse ? lse->data_ptr<float>() : nullptr;

  auto work = [&](int64_t begin, int64_t end) {
    detail::Tile t;
    t.scores.resize(static_cast<size_t>(qb * kFusedKeyBlock));
    t.acc.resize(static_cast<size_t>(qb * d));
    t.rowMax.resize(static_cast<size_t>(qb));
    t.rowSum.resize(static_cast<size_t>(qb));
    for (int64_t item = begin; item < end; ++item) {
      const int64_t bh = item / blocks, blk = item % blocks;
      const int64_t bi = bh / h, hi = bh % h;
      const int64_t r0 = blk * qb, rows = std::min(qb, n - r0);
      const float* bias = nullptr;
      if (bp) bias = bp + (((bc.size(0) == 1 ? 0 : bi) * h + hi) * n + r0) * nk;
      detail::attendBlock(qp + (bh * n + r0) * d, rows, d, kp + bh * d * nk, vp + bh * d * nk, nk,
                  bias, nk, s, op + (bh * n + r0) * d, lp ? lp + bh * n + r0 : nullptr, t);
    }
  };
  // Bands of items between which progress is reported and a cancel request honoured: about
  // 200 bands for big problems, each still many items per thread.
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t band = std::max<int64_t>(threads * 4, (items + 199) / 200);
  for (int64_t i0 = 0; i0 < items; i0 += band) {
    const int64_t i1 = std::min(items, i0 + band);
    at::parallel_for(i0, i1, 1, work);
    progress::step("attention", i1, items);
  }
  return out;
}

int64_t fusedAttentionBytes(int64_t batch, int64_t heads, int64_t n, int64_t nk, int64_t d) {
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t tile = kFusedQueryBlock * (kFusedKeyBlock + d + 2);
  return 4 * (batch * heads * (d * nk + 2 * n) + threads * tile);
}

double attentionFlops(int64_t batch, int64_t heads, int64_t n, int64_t nk, int64_t d) {
  return 4.0 * static_cast<double>(batch * heads) * static_cast<double>(n) *
         static_cast<double>(nk) * static_cast<double>(d);
}

}  // namespace fl::attn
