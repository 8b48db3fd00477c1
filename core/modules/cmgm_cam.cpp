#include "core/modules/cmgm_cam.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/common/cpu_clones.h"
#include "core/modules/fast_ops.h"
#include "core/modules/fused_attention.h"
#include "core/modules/progress.h"

namespace fl::cam {

namespace {

constexpr int kOutBlock = 8;   // output channels per register block (cmgm: all 8 heads)
constexpr int kColBlock = 32;  // output columns per register block (2 AVX-512 / 4 AVX2 vectors)

/// One output row of the folded conv: out[o][j] = relu(b[o] + sum w[o][c][di][dj] *
/// in[c][di][j + dj - 1]), zero outside columns [0, n). rows[c * 3 + di]: the input row di - 1
/// above/below of channel c (a zero row outside the image); out[o]: where row o goes (o < f.out).
/// The register block (8 channels x 32 columns of accumulators, constant trip counts) is what
/// the compiler keeps in vector registers; one clone per instruction set, picked at load time.
FL_CPU_CLONES void convRow(
    const float* const* rows, int64_t cin, const float* w, const float* bias, int64_t cout,
    float* const* out, int64_t n) {
  const int64_t blocks = (cout + kOutBlock - 1) / kOutBlock;
  for (int64_t ob = 0; ob < blocks; ++ob) {
    const float* wb = w + ob * cin * 9 * kOutBlock;
    const float* bb = bias + ob * kOutBlock;
    const int64_t oc = std::min<int64_t>(kOutBlock, cout - ob * kOutBlock);
    float* const* ob_out = out + ob * kOutBlock;
    // interior: columns j .. j + 31 read j - 1 .. j + 32, all inside [0, n)
    int64_t j = 1;
    for (; j + kColBlock + 1 <= n; j += kColBlock) {
      float acc[kOutBlock][kColBlock];
      for (int o = 0; o < kOutBlock; ++o) {
        for (int t = 0; t < kColBlock; ++t) acc[o][t] = bb[o];
      }
      for (int64_t c = 0; c < cin; ++c) {
        for (int di = 0; di < 3; ++di) {
          const float* r = rows[c * 3 + di] + j - 1;
          const float* wk = wb + (c * 9 + di * 3) * kOutBlock;
          // unrolled so that the 8 x 32 accumulators stay in registers (else they live on the
          // stack: half the speed)
#pragma GCC unroll 3
          for (int dj = 0; dj < 3; ++dj) {
#pragma GCC unroll 8
            for (int o = 0; o < kOutBlock; ++o) {
              const float wv = wk[dj * kOutBlock + o];
              for (int t = 0; t < kColBlock; ++t) acc[o][t] += wv * r[dj + t];
            }
          }
        }
      }
      for (int64_t o = 0; o < oc; ++o) {
        float* dst = ob_out[o] + j;
        // NaN stays NaN, as in at::relu
        for (int t = 0; t < kColBlock; ++t) dst[t] = acc[o][t] < 0.0f ? 0.0f : acc[o][t];
      }
    }
    // column 0 and the columns the blocks left: one pixel at a time, zero padding explicit
    auto pixel = [&](int64_t col) {
      for (int64_t o = 0; o < oc; ++o) {
        float s = bb[o];
        for (int64_t c = 0; c < cin; ++c) {
          for (int di = 0; di < 3; ++di) {
            const float* r = rows[c * 3 + di];
            for (int dj = 0; dj < 3; ++dj) {
              const int64_t x = col + dj - 1;
              if (x < 0 || x >= n) continue;
              s += wb[(c * 9 + di * 3 + dj) * kOutBlock + o] * r[x];
            }
          }
        }
        ob_out[o][col] = s < 0.0f ? 0.0f : s;
      }
    };
    if (n > 0) pixel(0);
    for (int64_t col = std::max<int64_t>(j, 1); col < n; ++col) pixel(col);
  }
}

/// Rows [s0, s0 + len) of a[c] + a[c]^T into dst[c] ([len, n] each) for `heads` channels of
/// one image a ([heads, n, n]). The rows are copied; the columns are added row by row of a,
/// reading `len` contiguous floats of each (the strided transpose becomes short runs).
void symmetrise(const float* a, int64_t heads, int64_t n, int64_t s0, int64_t len, float* dst) {
  for (int64_t c = 0; c < heads; ++c) {
    const float* ac = a + c * n * n;
    float* dc = dst + c * len * n;
    std::memcpy(dc, ac + s0 * n, static_cast<size_t>(len * n) * sizeof(float));
    for (int64_t jb = 0; jb < n; jb += 16) {
      const int64_t je = std::min(n, jb + 16);
      for (int64_t r = 0; r < len; ++r) {
        float* d = dc + r * n;
        const float* col = ac + s0 + r;
        for (int64_t j = jb; j < je; ++j) d[j] += col[j * n];
      }
    }
  }
}

/// Output rows [r0, r0 + m) of image `bi` of cam from its symmetrised rows [s0, s0 + len)
/// (sym: [heads, len, n] of that image).
void convRows(const float* sym, int64_t s0, int64_t len, int64_t r0, int64_t m, int64_t n,
              const FoldedConv& f, const float* zero, float* camImage) {
  const int64_t h = f.in;
  const int64_t outPad = static_cast<int64_t>(f.b.size());
  std::vector<const float*> rows(static_cast<size_t>(h * 3));
  std::vector<float*> out(static_cast<size_t>(outPad), nullptr);
  for (int64_t i = r0; i < r0 + m; ++i) {
    for (int64_t c = 0; c < h; ++c) {
      for (int di = 0; di < 3; ++di) {
        const int64_t src = i + di - 1;
        rows[c * 3 + di] = src < s0 || src >= s0 + len ? zero : sym + (c * len + src - s0) * n;
      }
    }
    for (int64_t o = 0; o < f.out; ++o) out[o] = camImage + (o * n + i) * n;
    convRow(rows.data(), h, f.w.data(), f.b.data(), f.out, out.data(), n);
  }
}

}  // namespace

bool usable(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn,
            const at::Tensor& attn) {
  const auto& o = conv.options;
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  const bool shape = conv.weight.dim() == 4 && conv.weight.size(2) == 3 &&
                     conv.weight.size(3) == 3 && o.groups() == 1 && (*o.stride())[0] == 1 &&
                     (*o.stride())[1] == 1 && (*o.dilation())[0] == 1 &&
                     (*o.dilation())[1] == 1 && pad && (**pad)[0] == 1 && (**pad)[1] == 1 &&
                     c10::get_if<torch::enumtype::kZeros>(&o.padding_mode()) != nullptr;
  const bool grad = at::GradMode::is_enabled() &&
                    (attn.requires_grad() || conv.weight.requires_grad() ||
                     (conv.bias.defined() && conv.bias.requires_grad()) ||
                     bn.weight.requires_grad() || bn.bias.requires_grad());
  return shape && !grad && ops::foldable(bn) && attn.device().is_cpu() &&
         attn.scalar_type() == at::kFloat && conv.weight.device().is_cpu() &&
         conv.weight.scalar_type() == at::kFloat && attn.dim() == 4 &&
         attn.size(1) == conv.weight.size(1);
}

FoldedConv fold(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn) {
  FoldedConv f;
  f.out = conv.weight.size(0);
  f.in = conv.weight.size(1);
  const int64_t blocks = (f.out + kOutBlock - 1) / kOutBlock;
  f.w.assign(static_cast<size_t>(blocks * f.in * 9 * kOutBlock), 0.0f);
  f.b.assign(static_cast<size_t>(blocks * kOutBlock), 0.0f);
  const auto w = conv.weight.detach().to(at::kDouble).contiguous();
  const auto cb = conv.bias.defined() ? conv.bias.detach().to(at::kDouble).contiguous()
                                      : at::zeros({f.out}, at::kDouble);
  const auto gamma = bn.weight.detach().to(at::kDouble).contiguous();
  const auto beta = bn.bias.detach().to(at::kDouble).contiguous();
  const auto mean = bn.running_mean.detach().to(at::kDouble).contiguous();
  const auto var = bn.running_var.detach().to(at::kDouble).contiguous();
  const double eps = bn.options.eps();
  const double* wp = w.data_ptr<double>();
  for (int64_t o = 0; o < f.out; ++o) {
    const double s = gamma.data_ptr<double>()[o] / std::sqrt(var.data_ptr<double>()[o] + eps);
    const int64_t ob = o / kOutBlock, ol = o % kOutBlock;
    for (int64_t c = 0; c < f.in; ++c) {
      for (int64_t t = 0; t < 9; ++t) {
        f.w[static_cast<size_t>(((ob * f.in + c) * 9 + t) * kOutBlock + ol)] =
            static_cast<float>(wp[(o * f.in + c) * 9 + t] * s);
      }
    }
    f.b[static_cast<size_t>(o)] = static_cast<float>(
        (cb.data_ptr<double>()[o] - mean.data_ptr<double>()[o]) * s + beta.data_ptr<double>()[o]);
  }
  return f;
}

at::Tensor camFromAttention(const at::Tensor& attn, const FoldedConv& f) {
  const auto a = attn.contiguous();
  const int64_t b = a.size(0), h = a.size(1), n = a.size(2);
  TORCH_CHECK(h == f.in && a.size(3) == n, "cam: attention ", a.sizes(), " for a ", f.in,
              "-channel conv");
  auto cam = attn::emptyLarge({b, f.out, n, n}, a.options());
  if (n == 0 || b == 0) return cam;
  const int64_t bands = (n + kBandRows - 1) / kBandRows;
  const int64_t items = b * bands;  // one item = one band of rows of one image
  const float* ap = a.data_ptr<float>();
  float* cp = cam.data_ptr<float>();
  auto work = [&](int64_t begin, int64_t end) {
    std::vector<float> buf(static_cast<size_t>(h * std::min(kBandRows + 2, n) * n));
    const std::vector<float> zero(static_cast<size_t>(n), 0.0f);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t bi = item / bands, r0 = (item % bands) * kBandRows;
      const int64_t m = std::min(kBandRows, n - r0);
      // one halo row each side; at rows 0 and N the conv's zero padding takes its place
      const int64_t s0 = std::max<int64_t>(0, r0 - 1);
      const int64_t len = std::min<int64_t>(n, r0 + m + 1) - s0;
      symmetrise(ap + bi * h * n * n, h, n, s0, len, buf.data());
      convRows(buf.data(), s0, len, r0, m, n, f, zero.data(), cp + bi * f.out * n * n);
    }
  };
  // Groups of bands between which progress is reported and a cancel request honoured.
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  const int64_t group = std::max<int64_t>(threads * 2, (items + 99) / 100);
  for (int64_t i0 = 0; i0 < items; i0 += group) {
    const int64_t i1 = std::min(items, i0 + group);
    at::parallel_for(i0, i1, 1, work);
    progress::step("cam", i1, items);
  }
  return cam;
}

void camRowsFromSym(const at::Tensor& sym, int64_t s0, int64_t r0, int64_t m,
                    const FoldedConv& f, at::Tensor& cam) {
  const auto s = sym.contiguous();
  const int64_t b = s.size(0), h = s.size(1), len = s.size(2), n = s.size(3);
  TORCH_CHECK(h == f.in && cam.is_contiguous() && cam.size(2) == n && r0 >= s0 &&
                  (r0 == 0 || r0 - 1 >= s0) && (r0 + m == n || r0 + m < s0 + len),
              "cam: rows ", r0, "..", r0 + m, " from symmetrised rows ", s0, "..", s0 + len);
  const float* sp = s.data_ptr<float>();
  float* cp = cam.data_ptr<float>();
  const int64_t rowsPerItem = 8;
  const int64_t pieces = (m + rowsPerItem - 1) / rowsPerItem;
  at::parallel_for(0, b * pieces, 1, [&](int64_t begin, int64_t end) {
    const std::vector<float> zero(static_cast<size_t>(n), 0.0f);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t bi = item / pieces, i0 = r0 + (item % pieces) * rowsPerItem;
      const int64_t rows = std::min(rowsPerItem, r0 + m - i0);
      convRows(sp + bi * h * len * n, s0, len, i0, rows, n, f, zero.data(),
               cp + bi * f.out * n * n);
    }
  });
}

int64_t camBandBytes(int64_t heads, int64_t n) {
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  // the symmetrised band and a zero row per thread
  return 4 * threads * (heads * std::min(kBandRows + 2, n) + 1) * n;
}

}  // namespace fl::cam
