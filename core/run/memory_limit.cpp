#include "core/run/memory_limit.h"

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <c10/util/ThreadLocalDebugInfo.h>

#include <atomic>
#include <mutex>
#include <optional>

#include "core/common/memory.h"

namespace fl {

namespace {

/// Counts this thread's tensor bytes (LibTorch's memory-reporting hook, as MemoryMeter) and
/// passes each report on to the reporter it replaced, so an enclosing meter still counts.
class LimitReporter : public c10::MemoryReportingInfoBase {
 public:
  LimitReporter(int64_t limit, c10::MemoryReportingInfoBase* parent) : limit_(limit), parent_(parent) {}

  void reportMemoryUsage(void* ptr, int64_t bytes, int64_t total, int64_t reserved, c10::Device device) override {
    held_.fetch_add(bytes);
    if (parent_ && parent_->memoryProfilingEnabled()) parent_->reportMemoryUsage(ptr, bytes, total, reserved, device);
  }
  bool memoryProfilingEnabled() const override { return true; }

  /// Called before an allocation of n bytes; refuses it past the limit.
  void admit(size_t n) {
    const int64_t bytes = static_cast<int64_t>(n);
    const int64_t held = held_.load();
    if (held + bytes <= limit_) return;
    if (text_.empty()) {
      text_ = "an allocation of " + formatBytes(bytes) + " with " + formatBytes(std::max<int64_t>(held, 0)) +
              " already held would pass the budget of " + formatBytes(limit_);
    }
    TORCH_CHECK(false, "FusionLens memory budget: ", text_);
  }

  const int64_t limit_;
  std::string text_;

 private:
  std::atomic<int64_t> held_{0};  // frees may be reported from other threads
  c10::MemoryReportingInfoBase* parent_;
};

thread_local LimitReporter* tActive = nullptr;

/// The CPU allocator LibTorch uses, wrapped: asks the thread's active limit first, then hands
/// the request to the allocator it replaced (same DataPtr, same deleter, so nothing else
/// changes). Installed once, at the first MemoryLimit.
class LimitingCpuAllocator final : public c10::Allocator {
 public:
  explicit LimitingCpuAllocator(c10::Allocator* inner) : inner_(inner) {}
  c10::DataPtr allocate(size_t n) const override {
    if (tActive && n > 0) tActive->admit(n);
    return inner_->allocate(n);
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner_->raw_deleter(); }

 private:
  c10::Allocator* inner_;
};

void installAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    static LimitingCpuAllocator allocator(c10::GetCPUAllocator());
    // Priority above the default registration (0), so ours is the one GetCPUAllocator returns.
    c10::SetCPUAllocator(&allocator, /*priority=*/1);
  });
}

}  // namespace

struct MemoryLimit::Impl {
  std::shared_ptr<LimitReporter> reporter;
  std::optional<c10::DebugInfoGuard> guard;
  LimitReporter* previous = nullptr;
};

MemoryLimit::MemoryLimit(int64_t limitBytes) : impl_(std::make_unique<Impl>()) {
  installAllocator();
  auto* parent = dynamic_cast<c10::MemoryReportingInfoBase*>(
      c10::ThreadLocalDebugInfo::get(c10::DebugInfoKind::PROFILER_STATE));
  impl_->reporter = std::make_shared<LimitReporter>(std::max<int64_t>(limitBytes, 1), parent);
  impl_->guard.emplace(c10::DebugInfoKind::PROFILER_STATE, impl_->reporter);
  impl_->previous = tActive;
  tActive = impl_->reporter.get();
}

MemoryLimit::~MemoryLimit() {
  tActive = impl_->previous;
  impl_->guard.reset();
}

int64_t MemoryLimit::limitBytes() const { return impl_->reporter->limit_; }

bool MemoryLimit::exceeded() const { return !impl_->reporter->text_.empty(); }

std::string MemoryLimit::exceededText() const { return impl_->reporter->text_; }

}  // namespace fl
