#include "core/io/image_header.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "core/common/error.h"

namespace fl {
namespace {

using Bytes = std::vector<unsigned char>;

/// Refused outright: a header claiming more than this per side is corrupt or hostile
/// (OpenCV's own limit, CV_IO_MAX_IMAGE_WIDTH/HEIGHT, for the codecs without a smaller one).
constexpr int64_t kMaxSide = 1 << 20;

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
  int bits = 8;      ///< bits per sample
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

std::vector<uint64_t> readTiffArray(const unsigned char* base, size_t size, uint16_t wanted,
                                    size_t cap, bool* outside);

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
          info.bits = d[at + 16] == 16 ? 16 : 8;
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
          info.bits = seg[0] > 8 ? 16 : 8;
        }
        at += 2 + len;
      }
      if (info.width > 0) return info;
      return std::nullopt;
    }
    case Format::Bmp: {
      if (n < 30) return std::nullopt;
      info.channels = le16(d + 28) == 32 ? 4 : 3;
      info.width = static_cast<int32_t>(le32(d + 18));
      info.height = std::abs(static_cast<int64_t>(static_cast<int32_t>(le32(d + 22))));
      return info;
    }
    case Format::Tiff: {
      const uint16_t tags[] = {256, 257, 277};
      std::optional<uint32_t> v[3];
      readTiffTags(d, n, tags, 3, v);
      bool outside = false;
      const auto bps = readTiffArray(d, n, 258, 1, &outside);
      if (!bps.empty()) info.bits = bps[0] > 16 ? 32 : bps[0] > 8 ? 16 : 8;
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

/// All values of a TIFF IFD0 tag (SHORT or LONG, inline or at an offset), at most `cap` of
/// them; empty when the tag is missing or its array lies outside the file.
std::vector<uint64_t> readTiffArray(const unsigned char* base, size_t size, uint16_t wanted,
                                    size_t cap, bool* outside) {
  std::vector<uint64_t> out;
  if (size < 8) return out;
  const bool little = base[0] == 'I';
  auto u16 = [&](size_t at) { return little ? le16(base + at) : be16(base + at); };
  auto u32 = [&](size_t at) { return little ? le32(base + at) : be32(base + at); };
  const size_t ifd = u32(4);
  if (ifd + 2 > size) return out;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e + 12 > size) return out;
    if (u16(e) != wanted) continue;
    const uint32_t type = u16(e + 2);
    const uint64_t n = u32(e + 4);
    const size_t width = type == 3 ? 2 : type == 4 ? 4 : 0;
    if (width == 0) return out;
    size_t at = e + 8;
    if (n * width > 4) {
      at = u32(e + 8);
      if (at > size || n > (size - at) / width) {
        *outside = true;
        return out;
      }
    }
    for (uint64_t k = 0; k < n && k < cap; ++k)
      out.push_back(width == 2 ? u16(at + 2 * k) : u32(at + 4 * k));
    return out;
  }
  return out;
}

/// Where the decoder would run out of data, or "" when the file holds all of its image.
/// (libpng, libjpeg and libtiff print their own complaints to stderr and some decode the
/// missing part as grey: a truncated file must be refused, not shown.)
std::string missingData(Format format, const Bytes& b, int64_t width, int64_t height) {
  const size_t n = b.size();
  const unsigned char* d = b.data();
  switch (format) {
    case Format::Png: {
      size_t at = 8;
      while (at + 12 <= n) {
        const uint64_t len = be32(d + at);
        if (len > 0x7FFFFFFFu) return "a chunk claims " + std::to_string(len) + " bytes";
        if (at + 12 + len > n) break;
        if (std::memcmp(d + at + 4, "IEND", 4) == 0) return "";
        at += 12 + size_t(len);
      }
      return "its data ends before the PNG's IEND chunk";
    }
    case Format::Jpeg: {
      // Entropy-coded data escapes 0xFF as FF 00 (and RSTn), so FF D9 after the first scan
      // can only be the end-of-image marker.
      size_t at = 2;
      while (at + 4 <= n && d[at] == 0xFF) {
        const unsigned marker = d[at + 1];
        if (marker == 0xFF) { ++at; continue; }
        if (marker == 0xDA) break;
        if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) { at += 2; continue; }
        at += 2 + be16(d + at + 2);
      }
      if (at + 4 > n || d[at] != 0xFF || d[at + 1] != 0xDA) return "its data ends before the first scan";
      for (size_t i = at + 2; i + 1 < n; ++i)
        if (d[i] == 0xFF && d[i + 1] == 0xD9) return "";
      return "its data ends before the JPEG's end-of-image marker";
    }
    case Format::Bmp: {
      if (n < 34) return "its header is incomplete";
      const uint64_t offset = le32(d + 10);
      const uint32_t bpp = le16(d + 28), compression = le32(d + 30);
      if (compression != 0 && compression != 3) return "";  // RLE: its length is in the data
      const uint64_t row = ((uint64_t(width) * bpp + 31) / 32) * 4;
      const uint64_t need = offset + row * uint64_t(height);
      if (need > n) return "its pixel array needs " + std::to_string(need) + " bytes";
      return "";
    }
    case Format::Tiff: {
      for (const auto& [offsetsTag, countsTag] : {std::pair<uint16_t, uint16_t>{273, 279}, {324, 325}}) {
        bool outside = false;
        const auto offsets = readTiffArray(d, n, offsetsTag, size_t{1} << 20, &outside);
        const auto counts = readTiffArray(d, n, countsTag, size_t{1} << 20, &outside);
        if (outside) return "a strip or tile table lies past its end";
        for (size_t i = 0; i < offsets.size() && i < counts.size(); ++i) {
          if (offsets[i] > n || counts[i] > n - offsets[i])
            return "strip or tile " + std::to_string(i) + " ends at byte " +
                   std::to_string(offsets[i] + counts[i]);
        }
      }
      return "";
    }
    case Format::Webp: {
      const uint64_t riff = le32(d + 4);
      if (riff + 8 > n) return "the RIFF container claims " + std::to_string(riff + 8) + " bytes";
      return "";
    }
    case Format::Unknown:
      break;
  }
  return "";
}

/// The largest side each codec really decodes (docs/features.md, "Images"): libpng's default
/// user limit, libjpeg's JPEG_MAX_DIMENSION, WebP's 14-bit sizes, OpenCV's own limit for the rest.
int64_t sideLimit(Format f) {
  switch (f) {
    case Format::Png: return 1000000;
    case Format::Jpeg: return 65500;
    case Format::Webp: return 16383;
    default: return kMaxSide;
  }
}

const char* formatName(Format f) {
  switch (f) {
    case Format::Png: return "PNG";
    case Format::Jpeg: return "JPEG";
    case Format::Bmp: return "BMP";
    case Format::Tiff: return "TIFF";
    case Format::Webp: return "WebP";
    default: return "image";
  }
}

/// Bytes the decode and conversion need at `w` x `h` pixels: the decoded samples, the float
/// copy of all channels, the float RGB result (and, with alpha, the split and merged planes).
}  // namespace

ImageHeader checkImageBytes(const Bytes& bytes, const std::string& where) {
  if (bytes.empty()) throwInput("'" + where + "' is empty, not an image");
  const Format format = sniff(bytes);
  if (format == Format::Unknown) throwInput("'" + where + "' is not an image (png, jpg, bmp, tiff or webp)");
  int orientation = 1;
  const auto header = parseHeader(bytes, &orientation);
  if (!header) {
    throwInput("'" + where + "' has no readable " + std::string(formatName(format)) +
               " header (corrupt or truncated)");
  }
  const int64_t limit = sideLimit(format);
  if (header->width <= 0 || header->height <= 0 || header->width > limit || header->height > limit) {
    throwInput("'" + where + "' has an invalid size in its header (" + std::to_string(header->width) + "x" +
               std::to_string(header->height) + "; " + formatName(format) + " sides are 1 to " +
               std::to_string(limit) + ")");
  }
  ImageHeader out;
  out.format = formatName(format);
  out.width = header->width;
  out.height = header->height;
  out.channels = header->channels;
  out.bits = header->bits;
  out.orientation = format == Format::Tiff ? 1 : orientation;
  if (format == Format::Tiff) {
    bool outside = false;
    const auto tw = readTiffArray(bytes.data(), bytes.size(), 322, 1, &outside);
    const auto th = readTiffArray(bytes.data(), bytes.size(), 323, 1, &outside);
    // Tiles are at most the image rounded up to TIFF's multiple of 16; larger ones only make
    // the decoder allocate for pixels that do not exist.
    auto round16 = [](int64_t v) { return (v + 15) / 16 * 16; };
    if ((!tw.empty() && (tw[0] == 0 || int64_t(tw[0]) > round16(out.width))) ||
        (!th.empty() && (th[0] == 0 || int64_t(th[0]) > round16(out.height)))) {
      throwInput("'" + where + "' has an invalid TIFF tile size (" + (tw.empty() ? std::string("?") : std::to_string(tw[0])) +
                 "x" + (th.empty() ? std::string("?") : std::to_string(th[0])) + " for a " +
                 std::to_string(out.width) + "x" + std::to_string(out.height) + " image)");
    }
  }
  const std::string missing = missingData(format, bytes, out.width, out.height);
  if (!missing.empty()) {
    throwInput("'" + where + "' is truncated or damaged: " + missing + " (the file has " +
               std::to_string(bytes.size()) + " bytes)");
  }
  return out;
}
int exifOrientation(const Bytes& bytes) {
  int orientation = 1;
  parseHeader(bytes, &orientation);
  if (sniff(bytes) == Format::Tiff) orientation = 1;
  return orientation;
}

}  // namespace fl
