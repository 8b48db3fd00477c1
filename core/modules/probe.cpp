#include "core/modules/probe.h"

#include <ATen/ATen.h>

namespace fl {

const char* probeKindName(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::ChannelWeights: return "channel_weights";
    case ProbeKind::SpatialMap: return "spatial_map";
    case ProbeKind::Gate: return "gate";
    case ProbeKind::AttentionMatrix: return "attention_matrix";
    case ProbeKind::ScaleWeights: return "scale_weights";
    case ProbeKind::FeatureMap: return "feature_map";
    case ProbeKind::ChannelMatrix: return "channel_matrix";
  }
  return "unknown";
}

namespace probe {
namespace {
thread_local Scope* tCurrent = nullptr;
}

bool active() { return tCurrent != nullptr; }

void record(const std::string& name, const at::Tensor& value) {
  if (tCurrent == nullptr) return;
  // Exactly one copy: a fresh contiguous CPU tensor, so later in-place work on `value` (or on
  // what it views) cannot change the record.
  const at::Tensor v = value.detach();
  tCurrent->records_[name] =
      v.is_cpu() ? v.clone(at::MemoryFormat::Contiguous)
                 : v.to(v.options().device(at::kCPU), /*non_blocking=*/false, /*copy=*/true,
                        at::MemoryFormat::Contiguous);
}

Scope::Scope() : previous_(tCurrent) { tCurrent = this; }
Scope::~Scope() { tCurrent = previous_; }

}  // namespace probe
}  // namespace fl
