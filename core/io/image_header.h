#pragma once
// Internal to core/io/ (and its tests): not part of the core's public headers.
/// Reading an encoded image's header and checking it before any decoder runs (no OpenCV
/// here: the fuzz target tests/fuzz/fuzz_image_header.cpp drives it with fl_io alone).
#include <cstdint>
#include <string>
#include <vector>

namespace fl {

/// What an encoded image's header says, after checkImageBytes() accepted it.
struct ImageHeader {
  std::string format;  ///< "PNG", "JPEG", "BMP", "TIFF", "WebP"
  int64_t width = 0, height = 0;
  int channels = 0;     ///< 0 when the header does not say
  int bits = 8;         ///< bits per sample
  int orientation = 1;  ///< EXIF orientation (1 for TIFF: libtiff applies it)
};

/// The pre-check readImage() runs before any decoder sees the bytes: a known format, a
/// readable header, sides within the codec's real limits (PNG 1,000,000: libpng's; JPEG
/// 65,500: libjpeg's; WebP 16,383; BMP and TIFF 2^20: OpenCV's), sane TIFF tiles, and data
/// that is all there (PNG up to IEND, JPEG up to its end-of-image marker, the BMP pixel
/// array, every TIFF strip or tile, the WebP RIFF size). Throws fl::Error(Input) naming
/// `where`: "'x.png' is truncated or damaged: ...".
ImageHeader checkImageBytes(const std::vector<unsigned char>& bytes, const std::string& where);

/// EXIF orientation (1..8) found in an encoded image's bytes (JPEG APP1, PNG eXIf,
/// WebP EXIF, TIFF IFD0), or 1 when there is none. Exposed for tests.
int exifOrientation(const std::vector<unsigned char>& bytes);

}  // namespace fl
