#pragma once
/// Forward-pass benchmarks (`fusionlens-cli bench`): timings belong here, never in tests.
#include <cstdint>
#include <string>
#include <vector>

#include "core/modules/registry.h"

namespace fl {

struct BenchOptions {
  std::vector<std::string> moduleIds;  ///< empty = all registered
  Shape shape{1, 64, 32, 32};           ///< every input gets this shape
  int iters = 20;
  int warmup = 3;
  int threads = 0;  ///< 0 = LibTorch default
  /// Outputs and probes the modules compute (RunRequest::outputs; empty = all): with
  /// {"output.0"} osra and cmgm skip cam and run the fused attention (probes are off anyway).
  std::vector<std::string> outputs;
};

struct BenchResult {
  std::string moduleId;
  Shape shape;
  int iters = 0;
  int threads = 0;
  double medianMs = 0, minMs = 0;
  int64_t estimatedBytes = 0;  ///< the peak estimate for this shape and selection
  double estimatedMs = 0;      ///< the time estimate run() would make (core/run/estimate.h)
  WorkEstimate work;           ///< what it is made of
  int64_t peakRssBytes = 0;    ///< process peak RSS after this module's runs
  std::string error;           ///< non-empty when the module cannot run at this shape
};

/// Runs each module (default parameters, seeded init, eval, no autograd, no probes):
/// `warmup` untimed forwards, then `iters` timed ones.
std::vector<BenchResult> bench(const ModuleRegistry& registry, const BenchOptions& options);

}  // namespace fl
