#pragma once
/// Image -> NCHW feature tensors that the modules take (docs/features.md).
///
/// Extractors (FeatureSpec::kind):
/// - "filterbank": a fixed multi-scale filter bank (colour, Gaussian-derivative gradients,
///   gradient magnitude, Laplacian of Gaussian, Gabor filters at four orientations), every
///   channel documented in docs/features.md; deterministic.
/// - "random": a seeded random-convolution stem (3x3 conv -> instance norm -> ReLU, He init,
///   stride-2 layers); a fixed seed gives identical features.
/// - "rgb", "gray": the image itself, area-pooled to the stride.
/// - "map": an auxiliary single-channel map (depth, disparity, mask): its luminance,
///   area-pooled to the stride, repeated to `channels` channels.
/// - "torchscript": a backbone exported with torch.jit.trace / torch.jit.script.
/// Built-in extractors standardise each output channel (zero mean, unit variance over the
/// spatial positions) unless `standardize=0`; TorchScript output is returned as the model
/// computes it unless `standardize=1`.
///
/// Thread safety: every function may be called from any thread; the only shared state is
/// the cache of loaded TorchScript modules, behind a mutex.
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/io/image.h"

namespace fl {

/// A parsed `--features` value: `KIND[:KEY=VALUE,...]`.
struct FeatureSpec {
  std::string kind = "filterbank";  ///< filterbank | random | rgb | gray | map | torchscript
  int64_t channels = 64;  ///< output channels (filterbank, random, map)
  int64_t stride = 4;     ///< output stride: 1, 2, 4, ..., 64 (not torchscript)
  uint64_t seed = 0;      ///< random: the weights' seed
  std::string path;       ///< torchscript: the .pt file
  int64_t output = 0;     ///< torchscript: which element of a tuple/list output to use
  double scale = 1.0;     ///< resize the image by this factor before extraction
  /// -1: the kind's default (1 for filterbank/random/map/rgb/gray, 0 for torchscript).
  int standardize = -1;
  /// torchscript input: "none" ([0,1] RGB) or "imagenet" ((x - mean) / std, ImageNet stats).
  std::string inputNorm = "none";
  int maxSide = 4096;  ///< imageFeatures: longest image side before area-downscaling
};

/// Parses "filterbank:channels=64,stride=4", "random:channels=64,stride=8,seed=1", "rgb",
/// "gray", "map:channels=64,stride=4", "torchscript:path=m.pt,output=0" (or
/// "torchscript:m.pt"), each optionally with ",scale=0.5", ",standardize=0|1",
/// ",max_side=N"; torchscript also ",input_norm=none|imagenet". Throws fl::Error(Usage)
/// naming the problem and listing the accepted forms.
FeatureSpec parseFeatureSpec(const std::string& text);

/// The canonical text of a spec (round-trips through parseFeatureSpec).
std::string featureSpecText(const FeatureSpec& spec);

/// "filterbank:channels=64,stride=4".
std::string defaultFeatureSpecText();

/// Multi-line description of the spec syntax for --help.
std::string featureSpecHelp();

/// Features of an image: contiguous CPU float32 [1,C,H',W'], where for the built-in
/// extractors H' = ceil(H*scale/stride), W' = ceil(W*scale/stride). Throws fl::Error(Usage)
/// for a bad spec, fl::Error(Input) for a model that cannot be loaded or run.
at::Tensor computeFeatures(const Image& image, const FeatureSpec& spec);

/// readImage(imagePath, spec.maxSide) then computeFeatures; the image's warnings are
/// appended to `warnings` when it is not null.
at::Tensor imageFeatures(const std::string& imagePath, const FeatureSpec& spec,
                         std::vector<std::string>* warnings);

/// Resizes features [B,C,H,W] bilinearly to `height` x `width` (unchanged when they match):
/// for a two-input module whose second input comes from another scale or extractor.
at::Tensor resizeFeatures(const at::Tensor& features, int64_t height, int64_t width);

/// The names of the filter bank's first `channels` channels, in order ("R", "dx s1", ...).
std::vector<std::string> filterBankChannelNames(int64_t channels);

}  // namespace fl
