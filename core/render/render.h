#pragma once
/// Heatmap rendering to cv::Mat, so the CLI renders without Qt (architecture.md, core/render/).
///
/// Colour order: every 3-channel image here is **RGB** (channel 0 = red), CV_8UC3. OpenCV's
/// cv::imwrite and cv::applyColorMap use BGR: call rgbToBgr() before cv::imwrite. A Qt view
/// wraps the data as QImage::Format_RGB888 without swapping.
#include <ATen/core/Tensor.h>

#include <opencv2/core.hpp>

#include "core/render/colormap.h"
#include "core/render/normalise.h"

namespace fl::render {

/// How a low-resolution map is resized to the base image.
enum class Interpolation {
  /// Default. Each output pixel takes the map cell whose area contains the pixel centre
  /// (src = floor((dst + 0.5) * srcSize / dstSize)); an integer upscale gives exact k x k blocks.
  /// Keeps the cells of a 7x7 CBAM map or a 14x14 ViT patch grid honest (DINO uses nearest).
  Nearest,
  /// Smooth (cv::INTER_LINEAR on the colours, pixel-centre aligned, like pytorch-grad-cam's
  /// cv2.resize); prettier but invents values between cells.
  Bilinear,
};

/// Colours a normalised CV_32FC1 image (values in [0,1]; NaN = no data) with `map`:
/// CV_8UC3 **RGB**, pixel = colormapColor(map, t) (NaN -> kNanColor). Throws fl::Error(Input)
/// for another type.
cv::Mat applyColormap(const cv::Mat& unit, Colormap map);

/// Resizes an 8-bit image (1 or 3 channels) to `size` with `interp` (see Interpolation).
cv::Mat resizeMap(const cv::Mat& image, cv::Size size, Interpolation interp);

/// Alpha blend of a heatmap over a base image: out = (1 - alpha) * base + alpha * heat
/// (visualization-anchors.md §4.2: "heatmap opacity alpha", default 0.5 in the UI, no
/// brightening by max(out) as grad-cam does). alpha = 0 returns the base exactly, alpha = 1 the
/// resized heat exactly. `baseRgb8`: CV_8UC3 RGB or CV_8UC1 grey (replicated to RGB);
/// `heatRgb8`: CV_8UC3 RGB of any size, resized to the base with `interp` (default Nearest, see
/// Interpolation for why). Returns CV_8UC3 RGB of the base's size. Throws fl::Error(Usage) for
/// alpha outside [0, 1] and fl::Error(Input) for wrong image types or empty images.
cv::Mat overlay(const cv::Mat& baseRgb8, const cv::Mat& heatRgb8, double alpha,
                Interpolation interp = Interpolation::Nearest);

/// computeRange + normalise + applyColormap for a 2-D map [H,W] (leading size-1 dimensions are
/// squeezed): CV_8UC3 RGB of size H x W (native resolution; overlay() upsamples). The range used
/// is stored in `*usedRange` when it is not null (for the colourbar label and ticks).
cv::Mat renderHeatmap(const at::Tensor& map2d, const NormSpec& spec, Colormap map, double naturalLo,
                      double naturalHi, Range* usedRange = nullptr);

/// RGB <-> BGR channel swap of an 8-bit 3-channel image (for cv::imwrite / cv::imread).
cv::Mat rgbToBgr(const cv::Mat& rgb);

}  // namespace fl::render
