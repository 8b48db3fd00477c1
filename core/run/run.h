#pragma once
/// Running a module: an immutable RunRequest in, a RunResult out, never an exception
/// (architecture.md, "Running work"). Plain C++: the CLI, the GUI's worker thread and
/// the tests call it the same way.
#include <ATen/core/Tensor.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/io/state_dict.h"
#include "core/modules/probe.h"
#include "core/modules/progress.h"
#include "core/modules/registry.h"
#include "core/run/memory_plan.h"

namespace fl {

enum class DeviceChoice { Auto, Cpu, Cuda };
DeviceChoice parseDevice(const std::string& text);  ///< "auto" | "cpu" | "cuda"; throws Usage
bool cudaAvailable();

struct RunEstimate;

struct RunRequest {
  uint64_t requestId = 0;
  std::string moduleId;
  std::map<std::string, std::string> params;  ///< name -> text, e.g. "kernel_size" -> "7"
  /// Weights: a file to read, or its tensors already read (takes precedence; a flattened
  /// checkpoint from readCheckpoint() or a plain state_dict; weightsPath then only names it
  /// in messages), or neither: a deterministic init seeded with `seed`.
  std::string weightsPath;
  std::shared_ptr<const NamedTensors> weights;
  /// Where the module's tensors sit inside the checkpoint (e.g. "decoder.GF."
  /// for a submodule of a whole network); absent: detected (extractModuleState()).
  std::optional<std::string> weightsPrefix;
  uint64_t seed = 0;
  std::vector<at::Tensor> inputs;  ///< in descriptor input order, NCHW
  DeviceChoice device = DeviceChoice::Auto;
  int64_t maxMemoryBytes = 0;  ///< 0 = defaultMemoryBudget()
  /// Outputs and probes to compute and return: output names ("output.1") and probe names
  /// ("attention", or "probe.attention"); empty = all. osra and cmgm skip the (HW)^2 work of
  /// what is left out (OutputSelection). An unknown name is a Usage error.
  std::vector<std::string> outputs;
  /// Refuse runs whose estimated time (core/run/estimate.h) is above this many seconds
  /// (ErrorKind::TimeLimit, the estimate in the message); 0 = no limit.
  double maxSeconds = 0;
  /// Called once the run is checked and estimated, before the module is built and run.
  std::function<void(const RunEstimate&)> onEstimate;
  /// Progress of long forwards (osra, cmgm: between bands of query rows), on the running
  /// thread. The GUI can drive a busy bar from it (marshal to the GUI thread yourself).
  progress::Callback onProgress;
  /// When set (by another thread or a signal handler), the run stops at the next piece of
  /// work and fails with ErrorKind::Cancelled; a finished forward is discarded too.
  const std::atomic<bool>* cancel = nullptr;
};

/// What a run is expected to cost, known before it starts.
struct RunEstimate {
  std::string moduleId;
  int64_t bytes = 0;       ///< estimated peak memory (RunResult::estimatedBytes)
  double seconds = 0;      ///< estimated forward time on this machine
  WorkEstimate work;       ///< what the time estimate is made of
};

struct ProbeResult {
  std::string name;
  ProbeKind kind = ProbeKind::FeatureMap;
  at::Tensor value;  ///< CPU float32
  double lo = 0, hi = 0;  ///< natural range (NaN when unbounded)
};

struct RunResult {
  uint64_t requestId = 0;
  bool ok = false;
  ErrorKind errorKind = ErrorKind::Internal;
  std::string error;  ///< one line, when !ok
  Subject errorSubject;          ///< what the error is about, when !ok
  std::optional<Fix> errorFix;   ///< how to get past it, when there is a way
  std::string moduleId;
  std::vector<std::string> outputNames;
  std::vector<at::Tensor> outputs;  ///< CPU float32
  std::vector<ProbeResult> probes;  ///< in descriptor order
  WeightsReport weights;            ///< empty when no weights were given
  std::string device;               ///< "cpu" or "cuda:0"
  /// Estimated peak bytes of this run: the descriptor's memoryBytes, or, when osra or cmgm
  /// run chunked because that is over the budget, the planned chunked working set.
  int64_t estimatedBytes = 0;
  double estimatedSeconds = 0;  ///< the time estimate made before the run (RunEstimate)
  double loadMs = 0, forwardMs = 0, totalMs = 0;
  std::vector<std::string> warnings;

  const ProbeResult* findProbe(const std::string& name) const;
  /// The failure as the Error it was (kind, message, subject, fix); only when !ok.
  Error failure() const { return Error(errorKind, error, errorSubject, errorFix); }
};

/// Validates the request (module, parameters, shapes, memory budget, weights), builds the
/// module, runs it in eval mode without autograd on the requested device, and returns
/// outputs and probes. Any failure is returned as !ok with a one-line message.
RunResult run(const ModuleRegistry& registry, const RunRequest& request);

/// The memory plan run() makes for `request` before it builds anything (core/run/memory_plan.h):
/// its budget, outputs and weights file, from the module's descriptor alone. What a front end
/// shows as the estimate, so that it says what the run will. Throws fl::Error where run()
/// would refuse the request before planning (unknown module, bad parameter or inputs).
MemoryPlan planRun(const ModuleRegistry& registry, const RunRequest& request);

/// The OutputSelection for `names` (RunRequest::outputs) of module `desc`; throws
/// fl::Error(Usage) naming the valid outputs and probes for an unknown name.
OutputSelection selectOutputs(const ModuleDescriptor& desc, const std::vector<std::string>& names);

}  // namespace fl
