#include "core/run/memory_meter.h"

#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <algorithm>
#include <atomic>
#include <optional>

namespace fl {

namespace {

/// LibTorch calls this for each allocation (+bytes) and free (-bytes) made while it is the
/// thread's PROFILER_STATE debug info. Atomics: CUDA frees may be reported from elsewhere.
class Reporter : public c10::MemoryReportingInfoBase {
 public:
  void reportMemoryUsage(void*, int64_t bytes, int64_t, int64_t, c10::Device) override {
    const int64_t now = current_.fetch_add(bytes) + bytes;
    int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
  }
  bool memoryProfilingEnabled() const override { return true; }
  int64_t peak() const { return peak_.load(); }
  int64_t current() const { return current_.load(); }

 private:
  std::atomic<int64_t> current_{0};
  std::atomic<int64_t> peak_{0};
};

}  // namespace

struct MemoryMeter::Impl {
  std::shared_ptr<Reporter> reporter = std::make_shared<Reporter>();
  std::optional<c10::DebugInfoGuard> guard;
};

MemoryMeter::MemoryMeter() : impl_(std::make_unique<Impl>()) {
  impl_->guard.emplace(c10::DebugInfoKind::PROFILER_STATE, impl_->reporter);
}

MemoryMeter::~MemoryMeter() { impl_->guard.reset(); }

int64_t MemoryMeter::peakBytes() const { return std::max<int64_t>(0, impl_->reporter->peak()); }

int64_t MemoryMeter::currentBytes() const { return impl_->reporter->current(); }

}  // namespace fl
