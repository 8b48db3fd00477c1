#include "core/modules/progress.h"

#include "core/common/error.h"

namespace fl::progress {

namespace {
thread_local Scope* tCurrent = nullptr;
}

Scope::Scope(Callback callback, const std::atomic<bool>* cancel)
    : callback_(std::move(callback)), cancel_(cancel), previous_(tCurrent) {
  tCurrent = this;
}

Scope::~Scope() { tCurrent = previous_; }

bool active() { return tCurrent != nullptr; }

bool cancelRequested() {
  return tCurrent && tCurrent->cancel_ && tCurrent->cancel_->load(std::memory_order_relaxed);
}

void step(const char* phase, int64_t done, int64_t total, double phaseStart, double phaseEnd) {
  Scope* s = tCurrent;
  if (!s) return;
  if (cancelRequested()) throw Error(ErrorKind::Cancelled, "cancelled (interrupted by the user)");
  if (!s->callback_) return;
  Update u;
  u.phase = phase;
  u.done = done;
  u.total = total;
  const double f = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  u.fraction = phaseStart + (phaseEnd - phaseStart) * f;
  s->callback_(u);
}

}  // namespace fl::progress
