#include "core/io/image.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <optional>

#include "core/common/error.h"

namespace fl {
namespace {

using Bytes = std::vector<unsigned char>;

/// Refused before decoding: more pixels than this (after any JPEG reduction) would need
/// gigabytes as float RGB. 2^28 is 16384 x 16384.
constexpr int64_t kMaxDecodePixels = int64_t{1} << 28;
/// Refused outright: a header claiming more than this per side is corrupt or hostile.
constexpr int64_t kMaxSide = 1 << 20;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string fileName(const std::string& path) {
  const auto slash = path.find_last_of("/\\");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

enum class Format { Unknown, Png, Jpeg, Bmp, Tiff, Webp };

Format sniff(const Bytes& b) {
  auto starts = [&](const char* magic, size_t n, size_t at = 0) {
    return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
  };
  if (starts("\x89PNG\r\n\x1a\n", 8)) return Format::Png;
  if (starts("\xff\xd8\xff", 3)) return Format::Jpeg;
  if (starts("BM", 2)) return Format::Bmp;
  if (starts("II*\0", 4) || starts("MM\0*", 4)) return Format::Tiff;
  if (starts("RIFF", 4) && starts("WEBP", 4, 8)) return Format::Webp;
  return Format::Unknown;
}

uint32_t be16(const unsigned char* p) { return (uint32_t{p[0]} << 8) | p[1]; }
uint32_t be32(const unsigned char* p) { return (be16(p) << 16) | be16(p + 2); }
uint32_t le16(const unsigned char* p) { return (uint32_t{p[1]} << 8) | p[0]; }
uint32_t le32(const unsigned char* p) { return (le16(p + 2) << 16) | le16(p); }

/// What the header says, read without decoding the pixels.
struct HeaderInfo {
  int64_t width = 0, height = 0;
  int channels = 0;  ///< 0 when unknown
};

/// Parses a TIFF structure (a TIFF file or an EXIF payload) starting at `base`, returning
/// the IFD0 values of `tags` (SHORT or LONG, count 1). Missing tags are left unset.
void readTiffTags(const unsigned char* base, size_t size, const uint16_t* tags, size_t ntags,
                  std::optional<uint32_t>* values) {
  if (size < 8) return;
  const bool little = base[0] == 'I' && base[1] == 'I';
  if (!little && !(base[0] == 'M' && base[1] == 'M')) return;
  auto u16 = [&](size_t at) { return little ? le16(base + at) : be16(base + at); };
  auto u32 = [&](size_t at) { return little ? le32(base + at) : be32(base + at); };
  if (u16(2) != 42) return;
  const size_t ifd = u32(4);
  if (ifd + 2 > size) return;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > size) return;
    const uint32_t tag = u16(e), type = u16(e + 2), n = u32(e + 4);
    if (n != 1) continue;
    for (size_t k = 0; k < ntags; ++k) {
      if (tag != tags[k]) continue;
      if (type == 3) values[k] = u16(e + 8);       // SHORT
      else if (type == 4) values[k] = u32(e + 8);  // LONG
    }
  }
}

int orientationFromTiff(const unsigned char* p, size_t n) {
  // EXIF payloads sometimes keep the "Exif\0\0" prefix (WebP writers differ).
  if (n >= 6 && std::memcmp(p, "Exif\0\0", 6) == 0) p += 6, n -= 6;
  const uint16_t tags[] = {274};
  std::optional<uint32_t> v[1];
  readTiffTags(p, n, tags, 1, v);
  return v[0] && *v[0] >= 1 && *v[0] <= 8 ? static_cast<int>(*v[0]) : 1;
}

/// Walks the container; fills the header size and, when `orientation` is given, the
/// EXIF orientation.
std::optional<HeaderInfo> parseHeader(const Bytes& b, int* orientation) {
  if (orientation) *orientation = 1;
  const size_t n = b.size();
  const unsigned char* d = b.data();
  HeaderInfo info;
  switch (sniff(b)) {
    case Format::Png: {
      size_t at = 8;
      while (at + 8 <= n) {
        const size_t len = be32(d + at);
        const std::string type(reinterpret_cast<const char*>(d + at + 4), 4);
        if (at + 8 + len > n) break;
        if (type == "IHDR" && len >= 13) {
          info.width = be32(d + at + 8);
          info.height = be32(d + at + 12);
          const int colour = d[at + 17];
          info.channels = colour == 0 ? 1 : colour == 4 ? 2 : colour == 6 ? 4 : 3;
        } else if (type == "eXIf" && orientation) {
          *orientation = orientationFromTiff(d + at + 8, len);
        } else if (type == "IDAT" || type == "IEND") {
          break;  // eXIf must come before IDAT
        }
        at += 12 + len;
      }
      if (info.width > 0) return info;
      return std::nullopt;
    }
    case Format::Jpeg: {
      size_t at = 2;
      while (at + 4 <= n) {
        if (d[at] != 0xFF) break;
        const unsigned marker = d[at + 1];
        if (marker == 0xFF) { ++at; continue; }  // fill byte
        if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
          at += 2;
          continue;
        }
        if (marker == 0xDA || marker == 0xD9) break;  // start of scan / end of image
        const size_t len = be16(d + at + 2);
        if (len < 2 || at + 2 + len > n) break;
        const unsigned char* seg = d + at + 4;
        const size_t segLen = len - 2;
        if (marker == 0xE1 && orientation && segLen > 6 && std::memcmp(seg, "Exif\0\0", 6) == 0) {
          *orientation = orientationFromTiff(seg + 6, segLen - 6);
        }
        const bool sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 &&
                         marker != 0xCC;
        if (sof && segLen >= 6) {
          info.height = be16(seg + 1);
          info.width = be16(seg + 3);
          info.channels = seg[5];
        }
        at += 2 + len;
      }
      if (info.width > 0) return info;
      return std::nullopt;
    }
    case Format::Bmp: {
      if (n < 26) return std::nullopt;
      info.width = static_cast<int32_t>(le32(d + 18));
      info.height = std::abs(static_cast<int64_t>(static_cast<int32_t>(le32(d + 22))));
      return info;
    }
    case Format::Tiff: {
      const uint16_t tags[] = {256, 257, 277};
      std::optional<uint32_t> v[3];
      readTiffTags(d, n, tags, 3, v);
      if (!v[0] || !v[1]) return std::nullopt;
      info.width = *v[0];
      info.height = *v[1];
      info.channels = v[2] ? static_cast<int>(*v[2]) : 0;
      return info;  // orientation: left to libtiff (see image.h)
    }
    case Format::Webp: {
      size_t at = 12;
      bool found = false;
      while (at + 8 <= n) {
        const std::string type(reinterpret_cast<const char*>(d + at), 4);
        const size_t len = le32(d + at + 4);
        const unsigned char* c = d + at + 8;
        if (at + 8 + len > n) break;
        if (type == "VP8X" && len >= 10) {
          info.width = 1 + (le32(c + 4) & 0xFFFFFF);
          info.height = 1 + ((le32(c + 6) >> 8) & 0xFFFFFF);
          info.channels = (c[0] & 0x10) ? 4 : 3;
          found = true;
        } else if (type == "VP8 " && len >= 10 && !found) {
          info.width = le16(c + 6) & 0x3FFF;
          info.height = le16(c + 8) & 0x3FFF;
          info.channels = 3;
          found = true;
        } else if (type == "VP8L" && len >= 5 && !found) {
          const uint32_t bits = le32(c + 1);
          info.width = 1 + (bits & 0x3FFF);
          info.height = 1 + ((bits >> 14) & 0x3FFF);
          info.channels = ((bits >> 28) & 1) ? 4 : 3;
          found = true;
        } else if (type == "EXIF" && orientation) {
          *orientation = orientationFromTiff(c, len);
        }
        at += 8 + len + (len & 1);
      }
      if (found) return info;
      return std::nullopt;
    }
    case Format::Unknown:
      break;
  }
  return std::nullopt;
}

Bytes readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throwInput("cannot open image '" + path + "'");
  Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throwInput("cannot read image '" + path + "'");
  return bytes;
}

}  // namespace

bool isImageFile(const std::string& path) {
  const auto dot = path.find_last_of('.');
  const auto slash = path.find_last_of("/\\");
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return false;
  const std::string ext = lower(path.substr(dot + 1));
  for (const char* e : {"png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"}) {
    if (ext == e) return true;
  }
  return false;
}

int exifOrientation(const Bytes& bytes) {
  int orientation = 1;
  parseHeader(bytes, &orientation);
  if (sniff(bytes) == Format::Tiff) orientation = 1;
  return orientation;
}

cv::Mat applyOrientation(const cv::Mat& image, int orientation) {
  cv::Mat out;
  switch (orientation) {
    case 2: cv::flip(image, out, 1); break;   // mirrored horizontally
    case 3: cv::flip(image, out, -1); break;  // rotated 180
    case 4: cv::flip(image, out, 0); break;   // mirrored vertically
    case 5: cv::transpose(image, out); break;
    case 6: cv::rotate(image, out, cv::ROTATE_90_CLOCKWISE); break;
    case 7: cv::transpose(image, out); cv::flip(out, out, -1); break;
    case 8: cv::rotate(image, out, cv::ROTATE_90_COUNTERCLOCKWISE); break;
    default: out = image; break;
  }
  return out;
}

Image readImage(const std::string& path, int maxSide) {
  const std::string name = fileName(path);
  const Bytes bytes = readAll(path);
  if (bytes.empty()) throwInput("'" + path + "' is empty, not an image");
  const Format format = sniff(bytes);
  if (format == Format::Unknown) {
    throwInput("'" + path + "' is not an image (png, jpg, bmp, tiff or webp)");
  }

  int orientation = 1;
  const auto header = parseHeader(bytes, &orientation);
  if (format == Format::Tiff) orientation = 1;
  int flags = cv::IMREAD_UNCHANGED;
  int reduce = 1;
  if (header) {
    if (header->width <= 0 || header->height <= 0 || header->width > kMaxSide ||
        header->height > kMaxSide) {
      throwInput("'" + path + "' has an invalid size in its header (" +
                 std::to_string(header->width) + "x" + std::to_string(header->height) + ")");
    }
    const int64_t longest = std::max(header->width, header->height);
    if (format == Format::Jpeg && maxSide > 0) {
      // libjpeg decodes at 1/2, 1/4, 1/8 cheaply; keep at least maxSide for the area resize.
      while (reduce < 8 && longest / (reduce * 2) >= maxSide) reduce *= 2;
    }
    const int64_t pixels = (header->width / reduce) * (header->height / reduce);
    if (pixels > kMaxDecodePixels) {
      throwInput("'" + path + "' is too large to decode (" + std::to_string(header->width) + "x" +
                 std::to_string(header->height) + " pixels; the limit is " +
                 std::to_string(kMaxDecodePixels) + " pixels)");
    }
    if (reduce > 1) {
      const bool gray = header->channels == 1;
      // The orientation is applied below, for every path alike.
      flags = cv::IMREAD_IGNORE_ORIENTATION |
              (reduce == 2   ? (gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2)
               : reduce == 4 ? (gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4)
                             : (gray ? cv::IMREAD_REDUCED_GRAYSCALE_8
                                     : cv::IMREAD_REDUCED_COLOR_8));
    }
  }

  cv::Mat decoded;
  try {
    decoded = cv::imdecode(bytes, flags);
  } catch (const cv::Exception& e) {
    throwInput("cannot decode image '" + path + "': " + firstLine(e.what()));
  }
  if (decoded.empty()) throwInput("cannot decode image '" + path + "' (corrupt or unsupported)");

  Image image;
  image.sourceChannels = decoded.channels();
  if (header && header->channels == 2) image.sourceChannels = 2;  // gray + alpha (as BGRA)
  if (reduce > 1 && header && header->channels > 0) image.sourceChannels = header->channels;

  cv::Mat f;
  switch (decoded.depth()) {
    case CV_8U: decoded.convertTo(f, CV_32F, 1.0 / 255.0); image.bitDepth = 8; break;
    case CV_16U: decoded.convertTo(f, CV_32F, 1.0 / 65535.0); image.bitDepth = 16; break;
    case CV_32F:
    case CV_64F: {
      decoded.convertTo(f, CV_32F);
      image.bitDepth = decoded.depth() == CV_32F ? 32 : 64;
      double lo = 0, hi = 0;
      cv::minMaxLoc(f.reshape(1), &lo, &hi);
      if (lo < 0 || hi > 1) {
        image.warnings.push_back(name + ": floating-point values outside [0,1] were clipped");
        cv::Mat clipped = cv::max(f, 0.0);
        f = cv::min(clipped, 1.0);
      }
      break;
    }
    default:
      throwInput("'" + path + "' has an unsupported sample type (only 8/16-bit integer or float)");
  }

  cv::Mat rgb;
  switch (f.channels()) {
    case 1: cv::cvtColor(f, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(f, rgb, cv::COLOR_BGR2RGB); break;
    case 4: {
      std::vector<cv::Mat> ch;
      cv::split(f, ch);  // B, G, R, A
      double minAlpha = 1;
      cv::minMaxLoc(ch[3], &minAlpha, nullptr);
      if (minAlpha < 1.0) {
        cv::Mat inv = 1.0 - ch[3];
        for (int c = 0; c < 3; ++c) ch[c] = ch[c].mul(ch[3]) + inv;  // over white
        image.warnings.push_back(name + ": transparent pixels composited over white");
      }
      cv::merge(std::vector<cv::Mat>{ch[2], ch[1], ch[0]}, rgb);
      break;
    }
    default:
      throwInput("'" + path + "' has " + std::to_string(f.channels()) +
                 " channels; expected gray, RGB or RGBA");
  }

  rgb = applyOrientation(rgb, orientation);
  if (reduce > 1) {  // the header's size: the decoded one is reduced
    const bool swap = orientation >= 5;
    image.sourceWidth = static_cast<int>(swap ? header->height : header->width);
    image.sourceHeight = static_cast<int>(swap ? header->width : header->height);
  } else {
    image.sourceWidth = rgb.cols;
    image.sourceHeight = rgb.rows;
  }

  // The size of the result follows from the source size alone (a reduced JPEG decode is
  // only a faster route to it).
  const int sourceLongest = std::max(image.sourceWidth, image.sourceHeight);
  if (maxSide > 0 && sourceLongest > maxSide) {
    const double s = static_cast<double>(maxSide) / sourceLongest;
    const int w = std::max(1, static_cast<int>(std::lround(image.sourceWidth * s)));
    const int h = std::max(1, static_cast<int>(std::lround(image.sourceHeight * s)));
    cv::Mat small;
    if (rgb.size() == cv::Size(w, h)) small = rgb;
    else cv::resize(rgb, small, cv::Size(w, h), 0, 0,
                    rgb.cols >= w && rgb.rows >= h ? cv::INTER_AREA : cv::INTER_LINEAR);
    image.warnings.push_back(name + ": " + std::to_string(image.sourceWidth) + "x" +
                             std::to_string(image.sourceHeight) + " downscaled to " +
                             std::to_string(w) + "x" + std::to_string(h) +
                             " (longest side limit " + std::to_string(maxSide) + ")");
    rgb = small;
  }
  image.rgb = rgb.isContinuous() ? rgb : rgb.clone();
  return image;
}

at::Tensor imageToTensor(const cv::Mat& rgb) {
  if (rgb.type() != CV_32FC3) throwInput("imageToTensor expects a CV_32FC3 image");
  const cv::Mat m = rgb.isContinuous() ? rgb : rgb.clone();
  const at::Tensor hwc = at::from_blob(const_cast<float*>(m.ptr<float>()),
                                       {m.rows, m.cols, 3}, at::kFloat);
  return hwc.permute({2, 0, 1}).unsqueeze(0).clone(at::MemoryFormat::Contiguous);  // m may be a temporary
}

}  // namespace fl
