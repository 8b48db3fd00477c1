#pragma once
/// Turning input files into module inputs, shared by the CLI (`run --input`) and figure specs
/// (`render`), so a figure's inputs are read exactly as `fusionlens-cli run` reads them.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace fl {

/// Reads input files in order: tensor files (.npy/.npz/.pt/.pth/.safetensors, optionally
/// channels-last [B,H,W,C]) as they are, and images through a feature extractor: the i-th
/// image uses featureSpecs[i], else the last spec given, else defaultFeatureSpecText().
/// Returns one NCHW CPU float32 tensor per file. Warnings (downscaled image, alpha, ignored
/// --features) are appended to `warnings`. Throws fl::Error naming the file on failure.
std::vector<at::Tensor> readInputs(const std::vector<std::string>& paths,
                                   const std::vector<std::string>& featureSpecs, bool channelsLast,
                                   std::vector<std::string>& warnings);

}  // namespace fl
