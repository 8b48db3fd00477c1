// The built-in multi-scale filter bank (docs/features.md, "filterbank"). Every channel is
// computed from the RGB image with OpenCV at full resolution or on an area-downscaled pyramid
// level, then area-pooled to the output stride. Channel order:
//   0 R, 1 G, 2 B, 3 Y (luma 0.299R+0.587G+0.114B), 4 R-G, 5 B-(R+G)/2
//   then for scale k = 0, 1, 2, ... (sigma = 2^k input pixels) a block of 12 on Y:
//   +0 dx, +1 dy (Gaussian derivatives, scale-normalised, positive where Y increases to the
//   right / downwards), +2 gradient magnitude, +3 -sigma^2 LoG (positive on bright blobs),
//   +4..+7 even (cosine) Gabor at 0, 45, 90, 135 degrees,
//   +8..+11 Gabor energy sqrt(even^2 + odd^2) at 0, 45, 90, 135 degrees.
// The first `channels` channels of this sequence are returned.
#include <ATen/ATen.h>

#include <cmath>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "core/common/error.h"
#include "core/features/extractors.h"

namespace fl::detail {
namespace {

constexpr int kColourChannels = 6;
constexpr int kBlockChannels = 12;
constexpr double kGaborGamma = 0.5;       // envelope aspect: elongated along the stripes
constexpr double kGaborWavelength = 3.0;  // carrier wavelength in units of sigma
constexpr int kAnglesDeg[4] = {0, 45, 90, 135};

/// A Gabor kernel (correlation form, y pointing down): the carrier varies along the
/// direction theta from +x towards +y, so theta = 0 answers vertical structures.
/// Unit L2 norm; the even kernel is made zero-mean.
cv::Mat gaborKernel(double sigma, double thetaRad, bool odd) {
  const int half = static_cast<int>(std::ceil(3.0 * sigma / kGaborGamma));
  const double lambda = kGaborWavelength * sigma;
  cv::Mat k(2 * half + 1, 2 * half + 1, CV_32F);
  const double c = std::cos(thetaRad), s = std::sin(thetaRad);
  for (int i = 0; i < k.rows; ++i) {
    for (int j = 0; j < k.cols; ++j) {
      const double x = j - half, y = i - half;
      const double xr = x * c + y * s, yr = -x * s + y * c;
      const double env = std::exp(-(xr * xr + kGaborGamma * kGaborGamma * yr * yr) /
                                  (2 * sigma * sigma));
      const double phase = 2 * M_PI * xr / lambda;
      k.at<float>(i, j) = static_cast<float>(env * (odd ? std::sin(phase) : std::cos(phase)));
    }
  }
  if (!odd) k -= cv::mean(k)[0];
  k /= cv::norm(k, cv::NORM_L2);
  return k;
}

cv::Mat pool(const cv::Mat& m, const cv::Size& out) {
  if (m.size() == out) return m;
  cv::Mat r;
  const bool shrink = m.cols >= out.width && m.rows >= out.height;
  cv::resize(m, r, out, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return r;
}

cv::Mat halve(const cv::Mat& m) {
  const cv::Size s(std::max(1, (m.cols + 1) / 2), std::max(1, (m.rows + 1) / 2));
  if (s == m.size()) return m;
  cv::Mat r;
  cv::resize(m, r, s, 0, 0, cv::INTER_AREA);
  return r;
}

}  // namespace

std::vector<std::string> filterBankNames(int64_t channels) {
  static const char* colour[kColourChannels] = {"R", "G", "B", "Y", "R-G", "B-Y"};
  std::vector<std::string> names;
  for (int64_t c = 0; c < channels; ++c) {
    if (c < kColourChannels) {
      names.emplace_back(colour[c]);
      continue;
    }
    const int64_t k = (c - kColourChannels) / kBlockChannels;
    const int64_t i = (c - kColourChannels) % kBlockChannels;
    const std::string sigma = " s" + std::to_string(int64_t{1} << std::min<int64_t>(k, 62));
    static const char* base[4] = {"dx", "dy", "grad", "log"};
    if (i < 4) names.push_back(base[i] + sigma);
    else if (i < 8) names.push_back("gabor" + std::to_string(kAnglesDeg[i - 4]) + sigma);
    else names.push_back("energy" + std::to_string(kAnglesDeg[i - 8]) + sigma);
  }
  return names;
}

at::Tensor filterBank(const cv::Mat& rgb, int64_t channels, int64_t stride) {
  if (rgb.type() != CV_32FC3 || rgb.empty()) throwInput("filter bank: expected a CV_32FC3 image");
  const cv::Size out(pooledSize(rgb.cols, stride), pooledSize(rgb.rows, stride));
  at::Tensor result = at::empty({1, channels, out.height, out.width}, at::kFloat);
  float* dst = result.data_ptr<float>();
  const size_t plane = static_cast<size_t>(out.area());
  auto store = [&](int64_t c, const cv::Mat& m) {
    cv::Mat p = pool(m, out);
    if (!p.isContinuous()) p = p.clone();
    std::memcpy(dst + c * plane, p.ptr<float>(), plane * sizeof(float));
  };

  std::vector<cv::Mat> ch(3);
  cv::split(rgb, ch);  // R, G, B
  cv::Mat y = 0.299f * ch[0] + 0.587f * ch[1] + 0.114f * ch[2];
  const cv::Mat colour[kColourChannels] = {ch[0], ch[1], ch[2], y, ch[0] - ch[1],
                                           ch[2] - 0.5f * (ch[0] + ch[1])};
  for (int64_t c = 0; c < std::min<int64_t>(channels, kColourChannels); ++c) store(c, colour[c]);

  cv::Mat level = y;  // scale k >= 1 works on Y area-downscaled by 2^(k-1), sigma 2 there
  for (int64_t k = 0; kColourChannels + k * kBlockChannels < channels; ++k) {
    if (k >= 2) level = halve(level);
    const double sigma = k == 0 ? 1.0 : 2.0;  // in pixels of `level`
    const int64_t first = kColourChannels + k * kBlockChannels;
    const int64_t count = std::min<int64_t>(kBlockChannels, channels - first);

    cv::Mat g, dx, dy;
    cv::GaussianBlur(level, g, cv::Size(), sigma, sigma, cv::BORDER_REFLECT);
    cv::Sobel(g, dx, CV_32F, 1, 0, /*ksize=*/1, /*scale=*/0.5 * sigma, 0, cv::BORDER_REFLECT);
    cv::Sobel(g, dy, CV_32F, 0, 1, /*ksize=*/1, /*scale=*/0.5 * sigma, 0, cv::BORDER_REFLECT);
    store(first + 0, dx);
    if (count > 1) store(first + 1, dy);
    if (count > 2) {
      cv::Mat mag;
      cv::magnitude(dx, dy, mag);
      store(first + 2, mag);
    }
    if (count > 3) {
      cv::Mat lap;
      cv::Laplacian(g, lap, CV_32F, /*ksize=*/1, /*scale=*/-sigma * sigma, 0, cv::BORDER_REFLECT);
      store(first + 3, lap);
    }
    for (int a = 0; a < 4 && 4 + a < count; ++a) {
      const double theta = kAnglesDeg[a] * M_PI / 180.0;
      cv::Mat even, odd;
      cv::filter2D(level, even, CV_32F, gaborKernel(sigma, theta, false), cv::Point(-1, -1), 0,
                   cv::BORDER_REFLECT);
      store(first + 4 + a, even);
      if (8 + a < count) {
        cv::filter2D(level, odd, CV_32F, gaborKernel(sigma, theta, true), cv::Point(-1, -1), 0,
                     cv::BORDER_REFLECT);
        cv::Mat energy;
        cv::magnitude(even, odd, energy);
        store(first + 8 + a, energy);
      }
    }
  }
  return result;
}

}  // namespace fl::detail
