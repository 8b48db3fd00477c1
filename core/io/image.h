#pragma once
/// Reading images for feature extraction: png, jpg/jpeg, bmp, tif/tiff and webp through
/// OpenCV's codecs, 8 or 16 bit (32-bit float TIFF too), gray, RGB or RGBA, returned as
/// float RGB in [0,1].
///
/// Decisions (docs/features.md, "Images"):
/// - Gray images are replicated to three equal channels.
/// - Alpha is composited over white (RGB under transparent pixels is undefined in most
///   files, so dropping alpha would show garbage); a warning says so when any pixel is
///   not fully opaque.
/// - The EXIF orientation tag (JPEG APP1, PNG eXIf, WebP EXIF) is read by FusionLens itself
///   and applied after decoding, so 16-bit and alpha images are oriented exactly like
///   8-bit ones (OpenCV's IMREAD_UNCHANGED would ignore it). The TIFF orientation tag is
///   left to libtiff.
/// - The header's width and height are checked before decoding: absurd sizes are refused;
///   large JPEGs are decoded at 1/2, 1/4 or 1/8 resolution by libjpeg (IMREAD_REDUCED_*).
/// - An image whose longest side exceeds `maxSide` is area-downscaled, with a warning.
#include <ATen/core/Tensor.h>

#include <opencv2/core/mat.hpp>
#include "core/io/image_header.h"
#include <string>
#include <vector>

namespace fl {

/// True when `path`'s extension (case-insensitive) is png, jpg, jpeg, bmp, tif, tiff or webp.
bool isImageFile(const std::string& path);

/// An image ready for feature extraction.
struct Image {
  cv::Mat rgb;             ///< CV_32FC3, values in [0,1], RGB order, oriented and downscaled
  int sourceWidth = 0;     ///< width of the oriented image as stored, before any downscale
  int sourceHeight = 0;    ///< height of the oriented image as stored, before any downscale
  int bitDepth = 8;        ///< bits per sample in the file: 8, 16 or 32 (float TIFF)
  int sourceChannels = 3;  ///< channels in the file: 1 gray, 2 gray+alpha, 3 colour, 4 colour+alpha
  std::vector<std::string> warnings;  ///< one line each, naming the file
};

/// Reads, orients, converts and (when its longest side exceeds `maxSide`, unless
/// `maxSide` <= 0) area-downscales an image. Throws fl::Error(Input) naming the file when it
/// cannot be opened, is not an image OpenCV can decode, or is absurdly large.
Image readImage(const std::string& path, int maxSide = 4096);

/// The memory an image decode may take (decoded samples plus the float copies), checked
/// before decoding; 0 (the default) means defaultMemoryBudget(). The CLI sets --max-memory.
void setImageDecodeBudget(int64_t bytes);
int64_t imageDecodeBudget();

/// CV_32FC3 H x W (RGB) -> contiguous CPU float32 [1,3,H,W]. Throws fl::Error(Input) on
/// another Mat type.
at::Tensor imageToTensor(const cv::Mat& rgb);

/// Applies an EXIF orientation (1..8) to a decoded image, as the EXIF specification says
/// (the same transforms OpenCV applies for 8-bit images).
cv::Mat applyOrientation(const cv::Mat& image, int orientation);

}  // namespace fl
