#include "core/render/render.h"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "core/common/error.h"

namespace fl::render {
namespace {

std::string describe(const cv::Mat& m) {
  return std::to_string(m.cols) + "x" + std::to_string(m.rows) + " type " +
         cv::typeToString(m.type());
}

// Source index of each destination index for centre-aligned nearest-neighbour resizing.
std::vector<int> nearestIndex(int srcSize, int dstSize) {
  std::vector<int> index(static_cast<size_t>(dstSize));
  for (int d = 0; d < dstSize; ++d) {
    // Integer form of floor((d + 0.5) * src / dst): exact, no rounding drift.
    const long long s = (2LL * d + 1) * srcSize / (2LL * dstSize);
    index[static_cast<size_t>(d)] = static_cast<int>(std::min<long long>(s, srcSize - 1));
  }
  return index;
}

}  // namespace

cv::Mat applyColormap(const cv::Mat& unit, Colormap map) {
  if (unit.type() != CV_32FC1)
    throwInput("applyColormap: expected a CV_32FC1 image with values in [0,1], got " +
               describe(unit));
  const ColormapLut& lut = colormapLut(map);
  cv::Mat out(unit.rows, unit.cols, CV_8UC3);
  for (int y = 0; y < unit.rows; ++y) {
    const float* src = unit.ptr<float>(y);
    auto* dst = out.ptr<cv::Vec3b>(y);
    for (int x = 0; x < unit.cols; ++x) {
      const int index = colormapIndex(src[x]);
      const Rgb8& c = index < 0 ? kNanColor : lut[static_cast<size_t>(index)];
      dst[x] = cv::Vec3b(c[0], c[1], c[2]);
    }
  }
  return out;
}

cv::Mat resizeMap(const cv::Mat& image, cv::Size size, Interpolation interp) {
  if (image.empty() || (image.type() != CV_8UC3 && image.type() != CV_8UC1))
    throwInput("resize: expected a non-empty CV_8UC3 or CV_8UC1 image, got " + describe(image));
  if (size.width <= 0 || size.height <= 0)
    throwInput("resize: invalid target size " + std::to_string(size.width) + "x" +
               std::to_string(size.height));
  if (image.size() == size) return image.clone();
  if (interp == Interpolation::Bilinear) {
    cv::Mat out;
    cv::resize(image, out, size, 0, 0, cv::INTER_LINEAR);
    return out;
  }
  const std::vector<int> xs = nearestIndex(image.cols, size.width);
  const std::vector<int> ys = nearestIndex(image.rows, size.height);
  cv::Mat out(size, image.type());
  const size_t px = image.elemSize();
  for (int y = 0; y < size.height; ++y) {
    const uchar* src = image.ptr<uchar>(ys[static_cast<size_t>(y)]);
    uchar* dst = out.ptr<uchar>(y);
    for (int x = 0; x < size.width; ++x)
      std::copy_n(src + xs[static_cast<size_t>(x)] * px, px, dst + x * px);
  }
  return out;
}

cv::Mat overlay(const cv::Mat& baseRgb8, const cv::Mat& heatRgb8, double alpha,
                Interpolation interp) {
  if (!(alpha >= 0.0 && alpha <= 1.0))
    throwUsage("overlay: heatmap opacity alpha must be in [0, 1], got " + std::to_string(alpha));
  if (baseRgb8.empty() || (baseRgb8.type() != CV_8UC3 && baseRgb8.type() != CV_8UC1))
    throwInput("overlay: the base image must be 8-bit RGB (CV_8UC3) or grey (CV_8UC1), got " +
               describe(baseRgb8));
  if (heatRgb8.empty() || heatRgb8.type() != CV_8UC3)
    throwInput("overlay: the heatmap must be 8-bit RGB (CV_8UC3), got " + describe(heatRgb8));
  cv::Mat base;
  if (baseRgb8.channels() == 1)
    cv::cvtColor(baseRgb8, base, cv::COLOR_GRAY2RGB);
  else
    base = baseRgb8;
  const cv::Mat heat = resizeMap(heatRgb8, base.size(), interp);
  if (alpha == 0.0) return base.clone();
  if (alpha == 1.0) return heat;
  cv::Mat out;
  cv::addWeighted(base, 1.0 - alpha, heat, alpha, 0.0, out);
  return out;
}

cv::Mat renderHeatmap(const at::Tensor& map2d, const NormSpec& spec, Colormap map, double naturalLo,
                      double naturalHi, Range* usedRange) {
  const Range range = computeRange(map2d, spec, naturalLo, naturalHi);
  cv::Mat rgb = applyColormap(normalise(map2d, range), map);
  if (usedRange) *usedRange = range;
  return rgb;
}

cv::Mat rgbToBgr(const cv::Mat& rgb) {
  if (rgb.type() != CV_8UC3) throwInput("rgbToBgr: expected CV_8UC3, got " + describe(rgb));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  return bgr;
}

}  // namespace fl::render
