#include "core/common/versions.h"

#include <opencv2/core/version.hpp>
#include <torch/cuda.h>
#include <torch/version.h>

#include <sched.h>

#include <thread>

#include "core/common/blas_info.h"

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

std::string blasStatus() {
  const BlasInfo& b = blasInfo();
  std::string s = "BLAS: " + b.summary();
  if (b.reference) s += "; slow: install libopenblas0-openmp (scripts/install-deps.sh)";
  return s;
}

int hardwareThreads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

}  // namespace fl
