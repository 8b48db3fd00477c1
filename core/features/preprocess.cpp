#include "core/features/preprocess.h"

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/common/numbers.h"
#include "core/io/image.h"

namespace fl {

namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(sep, start);
    parts.push_back(text.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return parts;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::vector<double> parseList(const std::string& key, const std::string& value, double lo, double hi) {
  std::vector<double> out;
  for (const std::string& part : split(value, ':')) out.push_back(parseReal(part, "preprocess: " + key, lo, hi));
  if (out.size() != 1 && out.size() != 3) {
    throwUsage("preprocess: " + key + " '" + clipForMessage(value) + "' needs one value or three (R:G:B)");
  }
  return out;
}

}  // namespace

bool Preprocess::operator==(const Preprocess& o) const {
  return resize == o.resize && width == o.width && height == o.height && multiple == o.multiple &&
         order == o.order && range == o.range && mean == o.mean && std == o.std;
}

Preprocess imagenetPreprocess() {
  Preprocess p;
  p.resize = Preprocess::Resize::To;
  p.width = p.height = 224;
  p.mean = {0.485, 0.456, 0.406};
  p.std = {0.229, 0.224, 0.225};
  return p;
}

Preprocess parsePreprocess(const std::string& text) {
  Preprocess p;
  if (text.empty()) return p;
  for (const std::string& item : split(text, ',')) {
    const size_t eq = item.find('=');
    if (eq == std::string::npos) {
      throwUsage("preprocess: '" + clipForMessage(item) + "' is not KEY=VALUE (keys: size, order, range, mean, std)");
    }
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "size") {
      if (value == "none") {
        p.resize = Preprocess::Resize::None;
        p.width = p.height = p.multiple = 0;
      } else if (value.rfind("multiple:", 0) == 0) {
        p.resize = Preprocess::Resize::Multiple;
        p.multiple = static_cast<int>(parseInteger(value.substr(9), "preprocess: size multiple", 1, 4096));
        p.width = p.height = 0;
      } else {
        const size_t x = value.find('x');
        if (x == std::string::npos) {
          throwUsage("preprocess: size '" + clipForMessage(value) + "' is not WxH, none or multiple:N");
        }
        p.resize = Preprocess::Resize::To;
        p.width = static_cast<int>(parseInteger(value.substr(0, x), "preprocess: size width", 1, 8192));
        p.height = static_cast<int>(parseInteger(value.substr(x + 1), "preprocess: size height", 1, 8192));
        p.multiple = 0;
      }
    } else if (key == "order") {
      if (value == "rgb") {
        p.order = Preprocess::Order::Rgb;
      } else if (value == "bgr") {
        p.order = Preprocess::Order::Bgr;
      } else if (value == "gray") {
        p.order = Preprocess::Order::Gray;
      } else {
        throwUsage("preprocess: order '" + clipForMessage(value) + "' is not rgb, bgr or gray");
      }
    } else if (key == "range") {
      if (value == "1") {
        p.range = 1;
      } else if (value == "255") {
        p.range = 255;
      } else {
        throwUsage("preprocess: range '" + clipForMessage(value) + "' is not 1 or 255");
      }
    } else if (key == "mean") {
      p.mean = parseList(key, value, -1e6, 1e6);
    } else if (key == "std") {
      p.std = parseList(key, value, 1e-12, 1e6);
    } else {
      throwUsage("preprocess: unknown key '" + clipForMessage(key) + "' (keys: size, order, range, mean, std)");
    }
  }
  return p;
}

std::string preprocessText(const Preprocess& p) {
  std::ostringstream s;
  s << "size=";
  switch (p.resize) {
    case Preprocess::Resize::None: s << "none"; break;
    case Preprocess::Resize::To: s << p.width << "x" << p.height; break;
    case Preprocess::Resize::Multiple: s << "multiple:" << p.multiple; break;
  }
  s << ",order=" << (p.order == Preprocess::Order::Rgb ? "rgb" : p.order == Preprocess::Order::Bgr ? "bgr" : "gray");
  s << ",range=" << (p.range == 255 ? "255" : "1");
  const auto list = [&](const std::vector<double>& v) {
    for (size_t i = 0; i < v.size(); ++i) s << (i ? ":" : "") << number(v[i]);
  };
  s << ",mean=";
  list(p.mean);
  s << ",std=";
  list(p.std);
  return s.str();
}

std::pair<int, int> preprocessedSize(const Preprocess& p, int width, int height) {
  switch (p.resize) {
    case Preprocess::Resize::None: return {width, height};
    case Preprocess::Resize::To: return {p.width, p.height};
    case Preprocess::Resize::Multiple: {
      const int w = width / p.multiple * p.multiple, h = height / p.multiple * p.multiple;
      if (w < 1 || h < 1) {
        throwInput("preprocess: a " + std::to_string(width) + "x" + std::to_string(height) +
                   " image has no side of at least the multiple " + std::to_string(p.multiple));
      }
      return {w, h};
    }
  }
  return {width, height};
}

PreprocessedImage preprocessImage(const cv::Mat& rgb, const Preprocess& p) {
  if (rgb.type() != CV_32FC3 || rgb.empty()) throwInput("preprocess: expected a float RGB image (CV_32FC3)");
  const auto [w, h] = preprocessedSize(p, rgb.cols, rgb.rows);
  PreprocessedImage out;
  if (w == rgb.cols && h == rgb.rows) {
    out.rgb = rgb.clone();
  } else {
    // Area when shrinking (no aliasing), linear when enlarging: what torchvision's antialiased
    // resize approximates.
    const bool shrink = w * h < rgb.cols * rgb.rows;
    cv::resize(rgb, out.rgb, cv::Size(w, h), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  }
  at::Tensor t = imageToTensor(out.rgb);  // [1,3,H,W] RGB in [0,1]
  if (p.order == Preprocess::Order::Bgr) {
    t = t.flip({1});
  } else if (p.order == Preprocess::Order::Gray) {
    t = t.mean(1, /*keepdim=*/true);
  }
  const int64_t c = t.size(1);
  t = t * p.range;
  const auto perChannel = [&](const std::vector<double>& v, const char* key) {
    if (v.size() != 1 && static_cast<int64_t>(v.size()) != c) {
      throwUsage(std::string("preprocess: ") + key + " has " + std::to_string(v.size()) + " values for " +
                 std::to_string(c) + " channel(s)");
    }
    return at::tensor(std::vector<float>(v.begin(), v.end())).view({1, static_cast<int64_t>(v.size()), 1, 1});
  };
  t = (t - perChannel(p.mean, "mean")) / perChannel(p.std, "std");
  out.tensor = t.contiguous();
  return out;
}

}  // namespace fl
