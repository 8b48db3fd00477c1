// Feature specs and the dispatch to the extractors (docs/features.md).
#include "core/features/features.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <sstream>

#include "core/common/error.h"
#include "core/common/numbers.h"
#include "core/features/extractors.h"

namespace fl {
namespace {

const char* const kAcceptedForms =
    "filterbank[:channels=N,stride=S], random[:channels=N,stride=S,seed=K], rgb[:stride=S], "
    "gray[:stride=S], map[:channels=N,stride=S], torchscript:path=FILE[,output=I,"
    "input_norm=none|imagenet]; any of them may add scale=F, standardize=0|1, max_side=N";

const char* const kKinds[] = {"filterbank", "random", "rgb", "gray", "map", "torchscript"};

[[noreturn]] void bad(const std::string& text, const std::string& why) {
  throwUsage("bad feature spec '" + text + "': " + why + " (accepted: " + kAcceptedForms + ")",
             settingSubject(kSettingFeatureSpec), fixBy(FixAction::ChooseFeatureSpec));
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

bool allowed(const std::string& kind, const std::string& key) {
  if (key == "scale" || key == "standardize" || key == "max_side") return true;
  if (kind == "filterbank" || kind == "map") return key == "channels" || key == "stride";
  if (kind == "random") return key == "channels" || key == "stride" || key == "seed";
  if (kind == "rgb" || kind == "gray") return key == "stride";
  if (kind == "torchscript") return key == "path" || key == "output" || key == "input_norm";
  return false;
}

int64_t parseInt(const std::string& text, const std::string& key, const std::string& value) {
  if (const auto v = toInteger(value)) return *v;
  bad(text, key + "=" + clipForMessage(value) + " is not an integer");
}

double parseDouble(const std::string& text, const std::string& key, const std::string& value) {
  if (const auto v = toReal(value)) return *v;
  bad(text, key + "=" + clipForMessage(value) + " is not a number");
}

/// Checks a spec's values; `text` names it in messages.
void validate(const FeatureSpec& s, const std::string& text) {
  if (std::find(std::begin(kKinds), std::end(kKinds), s.kind) == std::end(kKinds)) {
    bad(text, "unknown kind '" + s.kind + "'");
  }
  if (s.channels < 1 || s.channels > 4096) bad(text, "channels must be 1..4096");
  if (s.stride < 1 || s.stride > 64 || (s.stride & (s.stride - 1)) != 0) {
    bad(text, "stride must be 1, 2, 4, 8, 16, 32 or 64");
  }
  if (!(s.scale > 0 && s.scale <= 16)) bad(text, "scale must be in (0, 16]");
  if (s.standardize < -1 || s.standardize > 1) bad(text, "standardize must be 0 or 1");
  if (s.maxSide < 0) bad(text, "max_side must be >= 0 (0: no limit)");
  if (s.kind == "torchscript") {
    if (s.path.empty()) bad(text, "torchscript needs path=FILE");
    if (s.output < 0) bad(text, "output must be >= 0");
    if (s.inputNorm != "none" && s.inputNorm != "imagenet") {
      bad(text, "input_norm must be none or imagenet");
    }
  }
}

std::string formatDouble(double v) {
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

cv::Mat luma(const cv::Mat& rgb) {
  std::vector<cv::Mat> ch(3);
  cv::split(rgb, ch);
  return 0.299f * ch[0] + 0.587f * ch[1] + 0.114f * ch[2];
}

/// Area-pools a CV_32F image (1 or 3 channels) to ceil(size/stride) -> [1,C,H',W'].
at::Tensor pooledTensor(const cv::Mat& m, int64_t stride) {
  const cv::Size out(detail::pooledSize(m.cols, stride), detail::pooledSize(m.rows, stride));
  cv::Mat p;
  if (out == m.size()) p = m.clone();
  else cv::resize(m, p, out, 0, 0, cv::INTER_AREA);
  if (!p.isContinuous()) p = p.clone();
  const int c = p.channels();
  // from_blob borrows p's buffer, which dies with p: always copy (contiguous() would not
  // copy a single-channel view that is already contiguous).
  return at::from_blob(p.ptr<float>(), {p.rows, p.cols, c}, at::kFloat)
      .permute({2, 0, 1})
      .unsqueeze(0)
      .clone(at::MemoryFormat::Contiguous);
}

/// Per (batch, channel): zero mean, unit variance over H x W; constant channels (and channels
/// holding NaN or Inf) become 0. `owned`: x is this call's own fresh tensor and may be
/// overwritten. Float CPU tensors take one fused pass per plane written in place (or into one
/// new tensor): the tensor expression below made five full-size temporaries, about a third
/// of opening a 512x480 image with 16 channels (bench/interaction's cold start).
at::Tensor standardise(const at::Tensor& x, bool owned) {
  if (x.scalar_type() != at::kFloat || !x.device().is_cpu() || x.dim() != 4) {
    const at::Tensor mean = x.mean({2, 3}, /*keepdim=*/true);
    const at::Tensor centred = x - mean;
    const at::Tensor sd = centred.pow(2).mean({2, 3}, /*keepdim=*/true).sqrt();
    return at::where(sd > 1e-6, centred / sd.clamp_min(1e-6), at::zeros_like(centred));
  }
  const at::Tensor in = x.contiguous();
  const bool inPlace = owned && in.is_same(x);
  at::Tensor out = inPlace ? in : at::empty_like(in, at::MemoryFormat::Contiguous);
  const int64_t planes = in.size(0) * in.size(1);
  const int64_t n = in.size(2) * in.size(3);
  const float* src = in.data_ptr<float>();
  float* dst = out.data_ptr<float>();
  at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const float* p = src + c * n;
      float* q = dst + c * n;
      // Sums in double; the mean and deviation rounded to float as the tensor ops had them.
      double sum = 0;
      for (int64_t i = 0; i < n; ++i) sum += p[i];
      const float mean = n > 0 ? static_cast<float>(sum / static_cast<double>(n)) : 0.f;
      double sq = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(p[i] - mean);
        sq += d * d;
      }
      const float sd = n > 0 ? static_cast<float>(std::sqrt(sq / static_cast<double>(n))) : 0.f;
      if (sd > 1e-6f) {  // false for NaN as well
        for (int64_t i = 0; i < n; ++i) q[i] = (p[i] - mean) / sd;
      } else {
        std::fill(q, q + n, 0.f);
      }
    }
  });
  return out;
}

}  // namespace

FeatureSpec parseFeatureSpec(const std::string& rawText) {
  const std::string text = trim(rawText);
  FeatureSpec spec;
  const auto colon = text.find(':');
  spec.kind = trim(text.substr(0, colon));
  if (spec.kind.empty()) bad(text, "no kind given");
  if (std::find(std::begin(kKinds), std::end(kKinds), spec.kind) == std::end(kKinds)) {
    bad(text, "unknown kind '" + spec.kind + "'");
  }
  if (colon != std::string::npos) {
    std::stringstream items(text.substr(colon + 1));
    std::string item;
    bool first = true;
    while (std::getline(items, item, ',')) {
      item = trim(item);
      const auto eq = item.find('=');
      if (item.empty()) bad(text, "empty item");
      if (eq == std::string::npos) {
        if (first && spec.kind == "torchscript") {
          spec.path = item;  // "torchscript:model.pt"
          first = false;
          continue;
        }
        bad(text, "'" + item + "' is not KEY=VALUE");
      }
      first = false;
      const std::string key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
      if (!allowed(spec.kind, key)) bad(text, spec.kind + " does not take '" + key + "'");
      if (value.empty()) bad(text, key + " has no value");
      if (key == "channels") spec.channels = parseInt(text, key, value);
      else if (key == "stride") spec.stride = parseInt(text, key, value);
      else if (key == "seed") {
        const int64_t v = parseInt(text, key, value);
        if (v < 0) bad(text, "seed must be >= 0");
        spec.seed = static_cast<uint64_t>(v);
      } else if (key == "path") spec.path = value;
      else if (key == "output") spec.output = parseInt(text, key, value);
      else if (key == "scale") spec.scale = parseDouble(text, key, value);
      else if (key == "max_side") spec.maxSide = static_cast<int>(parseInt(text, key, value));
      else if (key == "input_norm") spec.inputNorm = value;
      else if (key == "standardize") {
        if (value == "1" || value == "true" || value == "yes") spec.standardize = 1;
        else if (value == "0" || value == "false" || value == "no") spec.standardize = 0;
        else bad(text, "standardize must be 0 or 1");
      }
    }
  }
  if (spec.kind == "rgb") spec.channels = 3;
  if (spec.kind == "gray") spec.channels = 1;
  validate(spec, text);
  return spec;
}

std::string featureSpecText(const FeatureSpec& s) {
  std::vector<std::string> items;
  const FeatureSpec d;
  if (s.kind == "torchscript") {
    items.push_back("path=" + s.path);
    if (s.output != 0) items.push_back("output=" + std::to_string(s.output));
    if (s.inputNorm != d.inputNorm) items.push_back("input_norm=" + s.inputNorm);
  } else {
    if (s.kind == "filterbank" || s.kind == "random" || s.kind == "map") {
      items.push_back("channels=" + std::to_string(s.channels));
    }
    items.push_back("stride=" + std::to_string(s.stride));
    if (s.kind == "random") items.push_back("seed=" + std::to_string(s.seed));
  }
  if (s.scale != 1.0) items.push_back("scale=" + formatDouble(s.scale));
  if (s.standardize != -1) items.push_back("standardize=" + std::to_string(s.standardize));
  if (s.maxSide != d.maxSide) items.push_back("max_side=" + std::to_string(s.maxSide));
  std::string out = s.kind;
  for (size_t i = 0; i < items.size(); ++i) out += (i == 0 ? ":" : ",") + items[i];
  return out;
}

std::string defaultFeatureSpecText() { return "filterbank:channels=64,stride=4"; }

std::string featureSpecHelp() {
  return "Feature specs (KIND[:KEY=VALUE,...]); default " + defaultFeatureSpecText() +
         "\n"
         "  filterbank:channels=N,stride=S   fixed multi-scale filter bank: R,G,B,Y,R-G,B-Y, then\n"
         "                                   per scale sigma=1,2,4,... dx,dy,|grad|,LoG and Gabor\n"
         "                                   (even + energy) at 0/45/90/135 deg (docs/features.md)\n"
         "  random:channels=N,stride=S,seed=K  seeded random conv stem (3x3 conv, instance norm,\n"
         "                                   ReLU; He init); the same seed gives the same features\n"
         "  rgb[:stride=S], gray[:stride=S]   the image itself, area-pooled to the stride\n"
         "  map:channels=N,stride=S          a single-channel map (depth, disparity, mask),\n"
         "                                   area-pooled and repeated to N channels\n"
         "  torchscript:path=FILE[,output=I][,input_norm=none|imagenet]\n"
         "                                   a model saved by torch.jit.trace/script; output=I picks\n"
         "                                   a tuple/list element; it must be [B,C,H,W]\n"
         "  Any kind: scale=F (resize the image first), standardize=0|1 (per-channel zero mean,\n"
         "  unit variance; default 1, 0 for torchscript), max_side=N (downscale larger images;\n"
         "  default 4096, 0 = no limit). Strides: 1,2,4,...,64; output size ceil(H*scale/S).\n";
}

at::Tensor computeFeatures(const Image& image, const FeatureSpec& spec) {
  validate(spec, featureSpecText(spec));
  if (image.rgb.empty() || image.rgb.type() != CV_32FC3) {
    throwInput("features: the image is empty or not RGB float");
  }
  at::NoGradGuard noGrad;
  cv::Mat rgb = image.rgb;
  if (spec.scale != 1.0) {
    const cv::Size size(std::max(1, static_cast<int>(std::lround(rgb.cols * spec.scale))),
                        std::max(1, static_cast<int>(std::lround(rgb.rows * spec.scale))));
    cv::Mat r;
    cv::resize(rgb, r, size, 0, 0, spec.scale < 1 ? cv::INTER_AREA : cv::INTER_LINEAR);
    rgb = r;
  }

  at::Tensor f;
  if (spec.kind == "filterbank") {
    f = detail::filterBank(rgb, spec.channels, spec.stride);
  } else if (spec.kind == "random") {
    f = detail::randomStem(imageToTensor(rgb), spec.channels, spec.stride, spec.seed);
  } else if (spec.kind == "rgb") {
    f = pooledTensor(rgb, spec.stride);
  } else if (spec.kind == "gray") {
    f = pooledTensor(luma(rgb), spec.stride);
  } else if (spec.kind == "map") {
    f = pooledTensor(luma(rgb), spec.stride).expand({1, spec.channels, -1, -1}).contiguous();
  } else {  // torchscript
    at::Tensor x = imageToTensor(rgb);
    if (spec.inputNorm == "imagenet") {
      const at::Tensor mean = at::tensor({0.485f, 0.456f, 0.406f}).view({1, 3, 1, 1});
      const at::Tensor sd = at::tensor({0.229f, 0.224f, 0.225f}).view({1, 3, 1, 1});
      x = (x - mean) / sd;
    }
    f = detail::torchscriptFeatures(x, spec.path, spec.output);
  }
  const bool standardize = spec.standardize == -1 ? spec.kind != "torchscript"
                                                  : spec.standardize == 1;
  // A TorchScript model's output may share memory with the model: never overwritten.
  if (standardize) f = standardise(f, spec.kind != "torchscript");
  return f.contiguous();
}

at::Tensor imageFeatures(const std::string& imagePath, const FeatureSpec& spec,
                         std::vector<std::string>* warnings) {
  Image image = readImage(imagePath, spec.maxSide);
  if (warnings) warnings->insert(warnings->end(), image.warnings.begin(), image.warnings.end());
  return computeFeatures(image, spec);
}

at::Tensor resizeFeatures(const at::Tensor& features, int64_t height, int64_t width) {
  if (features.dim() != 4) throwInput("resizeFeatures expects [B,C,H,W] features");
  if (height < 1 || width < 1) throwInput("resizeFeatures: target size must be positive");
  if (features.size(2) == height && features.size(3) == width) return features;
  const std::vector<int64_t> size{height, width};
  return at::upsample_bilinear2d(features, at::IntArrayRef(size), /*align_corners=*/false);
}

std::vector<std::string> filterBankChannelNames(int64_t channels) {
  return detail::filterBankNames(std::max<int64_t>(channels, 0));
}

}  // namespace fl
