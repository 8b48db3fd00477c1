#include "core/run/memory_plan.h"

#include <algorithm>
#include <limits>

#include "core/modules/descriptor_util.h"
#include "core/common/memory.h"

namespace fl {

namespace {

/// a + b without overflow: estimates of absurd sizes stay absurd, never wrap to small ones.
int64_t addSat(int64_t a, int64_t b) {
  const int64_t max = std::numeric_limits<int64_t>::max();
  return a > max - b ? max : a + b;
}

}  // namespace

int64_t MemoryPlan::estimatedBytes() const { return addSat(weightBytes, std::max(workBytes, loadBytes)); }

int64_t MemoryPlan::fullBytes() const { return addSat(weightBytes, std::max(fullWorkBytes, loadBytes)); }

int64_t MemoryPlan::requiredBytes() const { return addSat(weightBytes, std::max(minWorkBytes, loadBytes)); }

std::string MemoryPlan::refusal(const std::string& moduleId, const std::string& what) const {
  // The estimate in the terms it is made of: the full (unchunked) forward, with the chunked
  // minimum beside it when that is less.
  const int64_t total = fullBytes();
  std::string parts = "weights " + formatBytes(weightBytes) + ", inputs and activations " +
                      formatBytes(fullWorkBytes);
  if (minWorkBytes < fullWorkBytes) parts += ", at least " + formatBytes(minWorkBytes) + " when computed in query chunks";
  if (loadBytes > 0) parts += ", the checkpoint while it is read " + formatBytes(loadBytes);
  const bool weightsDominate = weightBytes >= std::max(minWorkBytes, loadBytes);
  return moduleId + ": " + what + " " + (what == "this run" ? "needs" : "need") + " about " + formatBytes(total) +
         " (" + parts + ") but the memory budget is " + formatBytes(budget) + "; " +
         (weightsDominate ? "use fewer channels (the weights grow with them)"
                          : "use smaller inputs (downsample H and W)");
}

MemoryPlan planMemory(const ModuleDescriptor& desc, const Params& params, const std::vector<Shape>& shapes,
                      const OutputSelection& selection, int64_t maxMemoryBytes, int64_t checkpointBytes) {
  MemoryPlan plan;
  plan.budget = maxMemoryBytes > 0 ? maxMemoryBytes : defaultMemoryBudget();
  plan.weightBytes = desc::stateBytes(desc.state(params, shapes));
  plan.loadBytes = std::max<int64_t>(checkpointBytes, 0);
  // What this selection needs without a budget: for osra/cmgm without the probe and cam, the
  // fused attention's O(HW); else the descriptor's full estimate.
  plan.fullWorkBytes = desc.plannedMemoryBytes ? desc.plannedMemoryBytes(params, shapes, 0, selection)
                                               : desc.memoryBytes(params, shapes);
  // Modules that can compute attention in query chunks (osra, cmgm) need only their minimum.
  plan.minWorkBytes = desc.minMemoryBytes ? std::min(plan.fullWorkBytes, desc.minMemoryBytes(params, shapes))
                                          : plan.fullWorkBytes;
  plan.workBytes = plan.fullWorkBytes;
  // A chunked run (osra, cmgm over what is left after the weights) is planned within it.
  if (desc.plannedMemoryBytes && plan.fits() && plan.fullWorkBytes > plan.moduleBudget()) {
    plan.workBytes = desc.plannedMemoryBytes(params, shapes, plan.moduleBudget(), selection);
  }
  return plan;
}

}  // namespace fl
