#pragma once
/// The memory budget of a run, checked before the module is built: what it counts (the
/// module's weights from its descriptor's state list, a checkpoint file while it is read, the
/// inputs, activations, probes and outputs) against the run's memory budget or the default one.
/// run(), attentionQuery() and bench use it, and the GUI's estimate (through planRun()), so that
/// every front end says the same.
#include <cstdint>
#include <string>
#include <vector>

#include "core/modules/descriptor.h"

namespace fl {

struct MemoryPlan {
  int64_t budget = 0;        ///< the budget in force: the request's, or defaultMemoryBudget()
  int64_t weightBytes = 0;   ///< the module's parameters and buffers (descriptor.state)
  int64_t loadBytes = 0;     ///< a checkpoint file's tensors while they are read and copied in
  int64_t workBytes = 0;     ///< inputs, activations, probes, outputs of the forward as planned
  int64_t fullWorkBytes = 0; ///< the same unchunked (osra, cmgm: with the full attention)
  int64_t minWorkBytes = 0;  ///< the least the forward can run in (osra, cmgm in query chunks)
  /// What the module's forward may use: the budget less its weights (osra and cmgm size their
  /// query chunks from it: ModuleInstance::setMemoryBudget).
  int64_t moduleBudget() const { return budget > weightBytes ? budget - weightBytes : 0; }
  /// The estimated peak: the weights, plus the larger of the forward and the checkpoint being
  /// read (it is released before the forward runs).
  int64_t estimatedBytes() const;
  /// The peak of the unchunked forward (what a refusal is phrased in): the weights, plus the
  /// larger of the full forward and the checkpoint being read.
  int64_t fullBytes() const;
  /// The least peak the run can have; over the budget it is refused.
  int64_t requiredBytes() const;
  bool fits() const { return requiredBytes() <= budget; }
  /// "MODULE: this run needs about 2.15 GiB (weights 2.15 GiB, inputs and activations 3.3 MiB)
  /// but the memory budget is 1.00 GiB; ..." (the estimate, its parts and the budget).
  std::string refusal(const std::string& moduleId, const std::string& what = "this run") const;
};

/// Plans a run of `desc` at `params` and input `shapes` computing `selection`, under
/// `maxMemoryBytes` (0 = defaultMemoryBudget()); `checkpointBytes` is the size of the weights
/// file it will read (0 when none, or when its tensors are already in memory). Computes
/// everything from the descriptor: nothing is built or allocated.
MemoryPlan planMemory(const ModuleDescriptor& desc, const Params& params, const std::vector<Shape>& shapes,
                      const OutputSelection& selection, int64_t maxMemoryBytes, int64_t checkpointBytes = 0);

}  // namespace fl
