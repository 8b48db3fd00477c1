#include "core/common/versions.h"

#include <opencv2/core/version.hpp>
#include <torch/cuda.h>
#include <torch/version.h>

namespace fl {

std::string fusionLensVersion() { return FL_VERSION; }


std::string libtorchVersion() { return TORCH_VERSION; }

std::string opencvVersion() { return CV_VERSION; }

std::string cudaStatus() {
  if (torch::cuda::is_available()) {
    return "CUDA available (" + std::to_string(torch::cuda::device_count()) + " device(s))";
  }
  return "CUDA not available (CPU-only LibTorch or no GPU)";
}

}  // namespace fl
