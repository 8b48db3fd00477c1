#pragma once
/// Time estimates before a run and the machine's measured rates, which the
/// bench also uses for its bounds.
///
/// seconds ~ gemmFlops / GEMM rate + attention scores * seconds per score + bytes / bandwidth,
/// with the rates measured in this process (once per thread count, about 30 ms): a 384^3 SGEMM
/// through LibTorch, a 32 MiB copy, and the fused attention kernel at the module's head size.
#include <cstdint>
#include <string>
#include <vector>

#include "core/modules/descriptor.h"

namespace fl {

struct MachineRates {
  int threads = 0;                  ///< LibTorch threads the rates were measured with
  double gemmFlopsPerSecond = 0;    ///< float32 matrix product through LibTorch's BLAS
  double bytesPerSecond = 0;        ///< memory bandwidth (bytes read + written per second)
};

/// Rates at the current at::get_num_threads(), measured on first use and cached.
const MachineRates& machineRates();

/// Measured seconds per score of the fused attention (core/modules/fused_attention.h) at head
/// size `headDim` and the current thread count, cached per pair.
double attentionScoreSeconds(int64_t headDim);

/// The descriptor's WorkEstimate, or for modules without one an estimate from memoryBytes
/// (every estimated byte written once and read twice).
WorkEstimate estimateWork(const ModuleDescriptor& desc, const Params& params,
                          const std::vector<Shape>& shapes, const OutputSelection& selection);

/// Seconds for `work` on this machine. Small work (well under 0.1 s even on a slow machine)
/// is estimated with nominal rates, without measuring anything.
double estimateSeconds(const WorkEstimate& work);

/// "850 ms", "12 s", "4 min 10 s", "2 h 13 min".
std::string durationText(double seconds);

/// Parses --max-time: seconds ("300", "90s"), minutes ("5m", "5min"), hours ("2h"); "0",
/// "none" or "inf" = no limit (returns 0). Throws fl::Error(Usage) otherwise.
double parseDuration(const std::string& text);

}  // namespace fl
