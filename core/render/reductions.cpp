#include "core/render/reductions.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/common/error.h"
#include "core/io/tensor_io.h"
#include "core/render/normalise.h"

namespace fl::render {
namespace {

void checkIndex(const char* what, int64_t index, int64_t size, const char* context) {
  if (index < 0 || index >= size)
    throwUsage(std::string(context) + ": " + what + " index " + std::to_string(index) +
               " is out of range [0, " + std::to_string(size) + ")");
}

}  // namespace

at::Tensor gateMeanMap(const at::Tensor& gate, int64_t batch) {
  if (!gate.defined() || gate.dim() != 4)
    throwInput("gate mean map: expected a [B,C,H,W] tensor, got " +
               (gate.defined() ? compactShapeText(gate) : std::string("an undefined tensor")));
  checkIndex("batch", batch, gate.size(0), "gate mean map");
  if (gate.size(1) == 0) throwInput("gate mean map: the gate has no channels");
  return gate.detach()[batch].to(at::kFloat).mean(/*dim=*/0).contiguous();
}

at::Tensor attentionRowMap(const at::Tensor& attn, int64_t batch, int64_t head, int64_t queryIndex,
                           int64_t keyH, int64_t keyW) {
  const char* ctx = "attention row map";
  if (!attn.defined() || attn.dim() != 4)
    throwInput(std::string(ctx) + ": expected a [B,heads,Nq,Nk] tensor, got " +
               (attn.defined() ? compactShapeText(attn) : std::string("an undefined tensor")));
  checkIndex("batch", batch, attn.size(0), ctx);
  if (head != -1) checkIndex("head", head, attn.size(1), ctx);
  checkIndex("query", queryIndex, attn.size(2), ctx);
  if (keyH <= 0 || keyW <= 0 || keyH * keyW != attn.size(3))
    throwInput(std::string(ctx) + ": key grid " + std::to_string(keyH) + "x" +
               std::to_string(keyW) + " does not match Nk = " + std::to_string(attn.size(3)) +
               " of " + compactShapeText(attn));
  if (attn.size(1) == 0) throwInput(std::string(ctx) + ": the matrix has no heads");
  // [heads, Nk] for this batch element and query.
  const at::Tensor rows = attn.detach()[batch].select(/*dim=*/1, queryIndex).to(at::kFloat);
  const at::Tensor row = head < 0 ? rows.mean(/*dim=*/0) : rows[head];
  return row.reshape({keyH, keyW}).contiguous();
}

cv::Mat pcaRgb(const at::Tensor& features) {
  if (!features.defined() || features.dim() != 3)
    throwInput("PCA-RGB: expected a [C,H,W] tensor, got " +
               (features.defined() ? compactShapeText(features) : std::string("an undefined tensor")));
  const int64_t C = features.size(0), H = features.size(1), W = features.size(2);
  if (C == 0 || H == 0 || W == 0) throwInput("PCA-RGB: empty feature map " + compactShapeText(features));
  const int64_t N = H * W;

  // [N, C]: pixels are samples, channels are variables.
  at::Tensor x = features.detach().to(at::kCPU).to(at::kDouble).reshape({C, N}).t().contiguous();
  const at::Tensor finite = at::isfinite(x);
  const at::Tensor count = finite.sum(/*dim=*/0).to(at::kDouble).clamp_min(1.0);
  const at::Tensor mean = at::where(finite, x, at::zeros_like(x)).sum(/*dim=*/0) / count;
  x = at::where(finite, x - mean, at::zeros_like(x));  // centred; non-finite -> mean (0)

  const at::Tensor cov = x.t().matmul(x) / static_cast<double>(std::max<int64_t>(N - 1, 1));
  const auto eig = at::linalg_eigh(cov);  // eigenvalues ascending, eigenvectors as columns
  const at::Tensor eigenvalues = std::get<0>(eig).contiguous();
  const at::Tensor eigenvectors = std::get<1>(eig);
  const double* ev = eigenvalues.data_ptr<double>();
  const double largest = ev[C - 1];

  cv::Mat out(static_cast<int>(H), static_cast<int>(W), CV_8UC3, cv::Scalar(128, 128, 128));
  for (int k = 0; k < 3; ++k) {
    const int64_t idx = C - 1 - k;
    if (idx < 0) break;
    if (!(largest > 0.0) || !(ev[idx] > 1e-12 * largest)) continue;  // no variance: grey

    at::Tensor v = eigenvectors.select(/*dim=*/1, idx).contiguous();
    // Sign convention: the largest-|loading| channel (first within 1e-9 of the max) is positive.
    const double* pv = v.data_ptr<double>();
    double maxAbs = 0.0;
    for (int64_t c = 0; c < C; ++c) maxAbs = std::max(maxAbs, std::fabs(pv[c]));
    for (int64_t c = 0; c < C; ++c) {
      if (std::fabs(pv[c]) >= maxAbs - 1e-9) {
        if (pv[c] < 0.0) v = -v;
        break;
      }
    }
    const at::Tensor score = x.matmul(v).contiguous();  // [N]
    const double lo = percentile(score, 1.0);
    const double hi = percentile(score, 99.0);
    const double* ps = score.data_ptr<double>();
    for (int64_t i = 0; i < N; ++i) {
      double t;
      if (hi > lo)
        t = std::clamp((ps[i] - lo) / (hi - lo), 0.0, 1.0);
      else
        t = ps[i] < lo ? 0.0 : (ps[i] > hi ? 1.0 : 0.5);
      out.at<cv::Vec3b>(static_cast<int>(i / W), static_cast<int>(i % W))[k] =
          static_cast<uint8_t>(std::floor(255.0 * t + 0.5));
    }
  }
  return out;
}

std::pair<int64_t, int64_t> attentionKeyGrid(int64_t nk, int64_t qh, int64_t qw) {
  std::pair<int64_t, int64_t> best{1, nk};
  double bestErr = 1e300;
  const double want = static_cast<double>(qh) / static_cast<double>(qw);
  for (int64_t h = 1; h <= nk; ++h) {
    if (nk % h) continue;
    const double err = std::fabs(std::log((static_cast<double>(h) / (nk / h)) / want));
    if (err < bestErr) {
      bestErr = err;
      best = {h, nk / h};
    }
  }
  return best;
}

}  // namespace fl::render
