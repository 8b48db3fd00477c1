#include "core/run/estimate.h"

#include "core/run/estimate_policy.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/utils.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <utility>

#include "core/common/error.h"
#include "core/common/numbers.h"
#include "core/modules/fused_attention.h"

namespace fl {

namespace {

using Clock = std::chrono::steady_clock;

/// Best of `reps` timings of `fn`, in seconds (the minimum: least disturbed by other load).
template <typename Fn>
double bestSeconds(int reps, Fn fn) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return std::max(best, 1e-9);
}

std::mutex gMutex;
std::atomic<double> gMeasureAbove{0.1};

MachineRates measureRates() {
  torch::NoGradGuard noGrad;
  MachineRates r;
  r.threads = at::get_num_threads();
  const int64_t m = 384;
  const auto a = at::randn({m, m}), b = at::randn({m, m});
  auto c = at::empty({m, m});
  at::mm_out(c, a, b);  // warm-up: BLAS thread pools, page faults
  r.gemmFlopsPerSecond = 2.0 * m * m * m / bestSeconds(3, [&] { at::mm_out(c, a, b); });
  const int64_t count = int64_t{8} << 20;  // 32 MiB of floats
  const auto src = at::ones({count});
  auto dst = at::empty({count});
  dst.copy_(src);
  r.bytesPerSecond = 8.0 * count / bestSeconds(3, [&] { dst.copy_(src); });
  return r;
}

}  // namespace

const MachineRates& machineRates() {
  static std::map<int, MachineRates> cache;
  std::lock_guard<std::mutex> lock(gMutex);
  const int threads = at::get_num_threads();
  auto it = cache.find(threads);
  if (it == cache.end()) it = cache.emplace(threads, measureRates()).first;
  return it->second;
}

double attentionScoreSeconds(int64_t headDim) {
  static std::map<std::pair<int, int64_t>, double> cache;
  const int threads = at::get_num_threads();
  const int64_t d = std::clamp<int64_t>(headDim, 1, 4096);
  {
    std::lock_guard<std::mutex> lock(gMutex);
    const auto it = cache.find({threads, d});
    if (it != cache.end()) return it->second;
  }
  torch::NoGradGuard noGrad;
  // Enough query blocks for every thread, keys in several blocks: the kernel's steady state.
  const int64_t n = std::max<int64_t>(256, 2 * attn::kFusedQueryBlock * threads);
  const int64_t nk = 2048;
  const auto q = at::randn({1, 1, n, d}), k = at::randn({1, 1, nk, d}), v = at::randn({1, 1, nk, d});
  const double scale = 1.0 / std::sqrt(static_cast<double>(d));
  attn::fusedAttention(q, k, v, scale, at::Tensor());
  const double secs =
      bestSeconds(3, [&] { attn::fusedAttention(q, k, v, scale, at::Tensor()); }) /
      static_cast<double>(n * nk);
  std::lock_guard<std::mutex> lock(gMutex);
  cache[{threads, d}] = secs;
  return secs;
}

WorkEstimate estimateWork(const ModuleDescriptor& desc, const Params& params,
                          const std::vector<Shape>& shapes, const OutputSelection& selection) {
  if (desc.work) return desc.work(params, shapes, selection);
  WorkEstimate w;
  w.bytes = 3.0 * static_cast<double>(desc.memoryBytes(params, shapes));
  return w;
}

void setMeasureRatesAbove(double seconds) { gMeasureAbove = std::max(0.1, seconds); }

double measureRatesAbove() { return gMeasureAbove; }

double estimateSeconds(const WorkEstimate& work) {
  // Nominal rates of a slow machine (1 GFLOP/s, 1 GB/s, 20 ns a score): when even these give
  // under 0.1 s (or the process's measureRatesAbove()), nothing is measured.
  const double nominal = work.gemmFlops / 1e9 + work.bytes / 1e9 + work.attentionScores * 20e-9;
  if (nominal < gMeasureAbove.load()) return nominal;
  const MachineRates& r = machineRates();
  double s = work.gemmFlops / r.gemmFlopsPerSecond + work.bytes / r.bytesPerSecond;
  if (work.attentionScores > 0) s += work.attentionScores * attentionScoreSeconds(work.headDim);
  return s;
}

std::string durationText(double seconds) {
  char buf[64];
  if (!std::isfinite(seconds)) return "unknown";
  if (seconds < 1) {
    std::snprintf(buf, sizeof buf, "%.0f ms", seconds * 1000);
  } else if (seconds < 60) {
    std::snprintf(buf, sizeof buf, seconds < 10 ? "%.1f s" : "%.0f s", seconds);
  } else if (seconds < 3600) {
    const long t = std::lround(seconds);
    std::snprintf(buf, sizeof buf, "%ld min %ld s", t / 60, t % 60);
  } else {
    const long t = std::lround(seconds / 60);
    std::snprintf(buf, sizeof buf, "%ld h %ld min", t / 60, t % 60);
  }
  return buf;
}

double parseDuration(const std::string& text) {
  if (text == "0" || text == "none" || text == "inf") return 0;
  // A number (the one parser: no overflow, no junk) and an optional unit.
  static const std::pair<const char*, double> units[] = {{"min", 60}, {"s", 1}, {"m", 60}, {"h", 3600}};
  std::string number = text;
  double mult = 1;
  for (const auto& [suffix, factor] : units) {
    const std::string u(suffix);
    if (text.size() > u.size() && text.compare(text.size() - u.size(), u.size(), u) == 0) {
      number = text.substr(0, text.size() - u.size());
      mult = factor;
      break;
    }
  }
  const std::optional<double> v = toReal(number);
  if (!v || *v < 0 || !std::isfinite(*v * mult)) {
    throwUsage(std::string(kSettingTimeLimit) + " '" + clipForMessage(text) +
                   "' is not a duration (e.g. 300, 90s, 10m, 2h; 0 or none for no limit)",
               settingSubject(kSettingTimeLimit));
  }
  return *v * mult;
}

}  // namespace fl
