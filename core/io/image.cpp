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
#include <atomic>
#include <iostream>
#include <mutex>
#include <opencv2/core/utils/logger.hpp>
#include <optional>
#include <unistd.h>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/io/image_header.h"
#include "core/common/memory.h"

namespace fl {
namespace {

using Bytes = std::vector<unsigned char>;

/// Refused before decoding: more pixels than this (after any JPEG reduction) would need
/// gigabytes as float RGB. 2^28 is 16384 x 16384.
constexpr int64_t kMaxDecodePixels = int64_t{1} << 28;
/// Image files larger than this are refused before they are read (a 16384 x 16384 16-bit RGBA
/// PNG stored uncompressed is 2 GiB).
constexpr uint64_t kMaxImageFileBytes = uint64_t{2} << 30;
std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string fileName(const std::string& path) {
  const auto slash = path.find_last_of("/\\");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}
int64_t decodeBytes(int64_t w, int64_t h, int channels, int bits) {
  const int64_t ch = std::max(channels, 1);
  const int64_t sample = bits > 8 ? (bits > 16 ? 4 : 2) : 1;
  int64_t perPixel = ch * sample + ch * 4 + 3 * 4;
  if (ch == 2 || ch == 4) perPixel += 4 * 4 * 2;
  return w * h * perPixel;
}

std::atomic<int64_t> gDecodeBudget{0};

/// Library diagnostics (libpng, libjpeg, libtiff print to stderr themselves) go into a buffer
/// while a decode runs, so the person sees exactly our one line. Decodes are serialised: fd 2
/// is process-wide.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    std::cerr.flush();
    saved_ = ::dup(2);
    std::FILE* f = saved_ >= 0 ? std::tmpfile() : nullptr;
    if (f) {
      file_ = f;
      if (::dup2(::fileno(f), 2) < 0) restore();
    } else if (saved_ >= 0) {
      ::close(saved_);
      saved_ = -1;
    }
  }
  ~StderrCapture() { restore(); }
  /// Restores stderr and returns what was written meanwhile (at most 4 KiB).
  std::string finish() {
    std::fflush(stderr);
    std::cerr.flush();
    std::string text;
    if (file_) {
      char buf[4096];
      const ssize_t got = ::pread(::fileno(file_), buf, sizeof buf, 0);
      if (got > 0) text.assign(buf, size_t(got));
    }
    restore();
    return text;
  }

 private:
  void restore() {
    if (saved_ >= 0) {
      ::dup2(saved_, 2);
      ::close(saved_);
      saved_ = -1;
    }
    if (file_) {
      std::fclose(file_);
      file_ = nullptr;
    }
  }
  int saved_ = -1;
  std::FILE* file_ = nullptr;
};

std::mutex gDecodeMutex;

/// The first non-empty line of a library's output, trimmed.
std::string firstMessage(const std::string& text) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) return line.substr(0, 200);
    start = end + 1;
  }
  return "";
}
Bytes readAll(const std::string& path) {
  // Regular files only (a FIFO or /dev/zero named x.png must not hang or fill memory), at
  // most kMaxImageFileBytes, never past the size seen at open.
  const InputFile in(path);
  return in.readAll(kMaxImageFileBytes, "an image file");
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

void setImageDecodeBudget(int64_t bytes) { gDecodeBudget = bytes; }

int64_t imageDecodeBudget() {
  const int64_t b = gDecodeBudget;
  return b > 0 ? b : defaultMemoryBudget();
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
  static std::once_flag quietOpenCv;
  // OpenCV's own log lines (and, through its level, libtiff's) must not reach stderr: the
  // person gets exactly our one line.
  std::call_once(quietOpenCv, [] { cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT); });
  const std::string name = fileName(path);
  const Bytes bytes = readAll(path);
  const ImageHeader checked = checkImageBytes(bytes, path);  // size limits, truncation
  const bool jpeg = checked.format == "JPEG";
  const int orientation = checked.orientation;

  // The memory the decode will take, against the budget, before decoding: JPEGs are decoded
  // reduced (1/2, 1/4, 1/8) until they fit; other formats are refused with the numbers.
  const int64_t budget = imageDecodeBudget();
  int flags = cv::IMREAD_UNCHANGED;
  int reduce = 1;
  const int64_t longest = std::max(checked.width, checked.height);
  auto need = [&](int r) {
    return decodeBytes((checked.width + r - 1) / r, (checked.height + r - 1) / r, checked.channels, checked.bits);
  };
  if (jpeg) {
    // libjpeg decodes at 1/2, 1/4, 1/8 cheaply; keep at least maxSide for the area resize.
    if (maxSide > 0) while (reduce < 8 && longest / (reduce * 2) >= maxSide) reduce *= 2;
    while (reduce < 8 && need(reduce) > budget) reduce *= 2;
  }
  const int64_t pixels = ((checked.width + reduce - 1) / reduce) * ((checked.height + reduce - 1) / reduce);
  if (pixels > kMaxDecodePixels) {
    throwInput("'" + path + "' is too large to decode (" + std::to_string(checked.width) + "x" +
               std::to_string(checked.height) + " pixels; the limit is " + std::to_string(kMaxDecodePixels) +
               " pixels)");
  }
  if (need(reduce) > budget) {
    throw Error(ErrorKind::Memory,
                "'" + path + "' (" + std::to_string(checked.width) + "x" + std::to_string(checked.height) +
                    ") needs about " + formatBytes(need(reduce)) + " to decode and convert, above the memory budget of " +
                    formatBytes(budget),
                fileSubject(path), fixBy(FixAction::RaiseMemoryBudget));
  }
  if (reduce > 1) {
    const bool gray = checked.channels == 1;
    // The orientation is applied below, for every path alike.
    flags = cv::IMREAD_IGNORE_ORIENTATION |
            (reduce == 2   ? (gray ? cv::IMREAD_REDUCED_GRAYSCALE_2 : cv::IMREAD_REDUCED_COLOR_2)
             : reduce == 4 ? (gray ? cv::IMREAD_REDUCED_GRAYSCALE_4 : cv::IMREAD_REDUCED_COLOR_4)
                           : (gray ? cv::IMREAD_REDUCED_GRAYSCALE_8 : cv::IMREAD_REDUCED_COLOR_8));
  }

  cv::Mat decoded;
  std::string libraryText;
  bool threw = false;
  {
    const std::lock_guard<std::mutex> lock(gDecodeMutex);
    StderrCapture capture;
    try {
      decoded = cv::imdecode(bytes, flags);
    } catch (const cv::Exception&) {
      threw = true;  // its text names OpenCV's source files: not for a person
    }
    libraryText = capture.finish();
  }
  const std::string said = firstMessage(libraryText);
  if (threw || decoded.empty()) {
    throwInput("cannot decode image '" + path + "' (corrupt or unsupported" + (said.empty() ? "" : ": " + said) + ")");
  }
  // libjpeg's "Premature end of JPEG file" / "premature end of data segment", libpng's "input
  // buffer is incomplete": the data ended early (the pre-check catches the usual cases).
  if (lower(said).find("premature end") != std::string::npos || said.find("incomplete") != std::string::npos) {
    throwInput("'" + path + "' is truncated: " + said);
  }
  std::vector<std::string> libraryWarnings;
  if (!said.empty()) libraryWarnings.push_back(name + ": the decoder says: " + said);

  Image image;
  image.warnings = libraryWarnings;
  image.sourceChannels = decoded.channels();
  if (checked.channels == 2) image.sourceChannels = 2;  // gray + alpha (as BGRA)
  if (reduce > 1 && checked.channels > 0) image.sourceChannels = checked.channels;

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
    image.sourceWidth = static_cast<int>(swap ? checked.height : checked.width);
    image.sourceHeight = static_cast<int>(swap ? checked.width : checked.height);
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