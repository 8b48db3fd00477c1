#pragma once
/// ModuleDescriptor: everything the UI and the CLI need to know about a module without
/// running it (architecture.md, "Modules, registry, probes"). Deliberately free of torch
/// headers so that UI translation units stay light.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/modules/params.h"
#include "core/modules/probe_kind.h"

namespace fl {

/// A tensor shape, e.g. {B, C, H, W}.
using Shape = std::vector<int64_t>;

std::string shapeText(const Shape& shape);  ///< "[1, 64, 32, 32]"

struct ModuleInstance;  // module_instance.h (needs torch)

/// A named input of a module, e.g. aff's "x" and "residual".
struct InputSpec {
  std::string name;
  std::string help;
};

/// A probe the module records, with its natural value range ([0,1] for a sigmoid gate);
/// lo/hi are NaN when the values are unbounded.
struct ProbeSpec {
  std::string name;
  ProbeKind kind = ProbeKind::FeatureMap;
  std::string shape;  ///< symbolic, e.g. "[B,C,H,W]"
  double lo = std::numeric_limits<double>::quiet_NaN();
  double hi = std::numeric_limits<double>::quiet_NaN();
  std::string help;
  bool bounded() const { return !std::isnan(lo) && !std::isnan(hi); }
};

/// Which outputs and probes a run computes: osra and cmgm skip what costs (HW)^2
/// memory when it is not asked for: the full `attention` probe, cmgm's `cam` (output.1).
/// Other modules compute everything; run() returns only what was selected.
struct OutputSelection {
  bool all = true;                 ///< every output and probe (the default)
  std::vector<std::string> names;  ///< when !all: output names ("output.1"), probe names ("attention")
  bool wants(const std::string& name) const {
    return all || std::find(names.begin(), names.end(), name) != names.end();
  }
};

/// Work of one forward, for time estimates before a run and the bench's
/// bounds: seconds ~ gemmFlops / GEMM rate + attentionScores * measured seconds
/// per score at head size headDim + bytes / memory bandwidth.
struct WorkEstimate {
  double gemmFlops = 0;        ///< dense products and convolutions, 2 flops per multiply-add
  double attentionScores = 0;  ///< B*h*N*Nk softmax scores of (fused or chunked) attention
  int64_t headDim = 0;         ///< d of those scores (their cost grows with it)
  double bytes = 0;            ///< memory traffic besides that (activations read and written)
};

/// One tensor of a module's state_dict, known without building the module: its dotted key,
/// shape and kind, as the built module's moduleStateDict() (core/io/state_dict.h) lists it.
struct StateTensor {
  std::string name;      ///< e.g. "local_att.0.weight"
  Shape shape;           ///< [] for a scalar (BatchNorm's num_batches_tracked)
  bool buffer = false;   ///< a buffer (BatchNorm running statistics), else a parameter
  bool integer = false;  ///< int64 (num_batches_tracked), else float32
};

/// Groups modules in the UI's module list.
enum class ModuleCategory { Channel, Spatial, ChannelSpatial, Fusion, CrossAttention };
const char* moduleCategoryName(ModuleCategory category);

struct ModuleDescriptor {
  std::string id;           ///< stable id used by the CLI and session files, e.g. "aff"
  std::string displayName;  ///< e.g. "AFF (Attentional Feature Fusion)"
  ModuleCategory category = ModuleCategory::Channel;
  std::string summary;      ///< one line for the UI
  std::string citation;     ///< paper, venue, year, arXiv/doi
  std::vector<InputSpec> inputs;
  std::vector<std::string> outputs;  ///< "output" or "output.0", "output.1", ...
  std::vector<ParamSpec> params;
  std::vector<ProbeSpec> probes;

  /// An empty Problem when the input shapes are acceptable for these parameters, otherwise
  /// a one-line message that says what is wrong, with its subject (the parameter or input)
  /// and, where there is one, a fix (e.g. a parameter value that works). Called before building.
  std::function<Problem(const Params&, const std::vector<Shape>&)> check;
  /// Estimated peak memory of one forward pass in bytes (inputs, activations, probes).
  std::function<int64_t(const Params&, const std::vector<Shape>&)> memoryBytes;
  /// Optional, for modules that can trade completeness for memory (osra and cmgm compute
  /// attention in query chunks): the smallest peak in bytes they can run within, producing
  /// at least the first output. run() refuses only above this and hands the budget to the
  /// instance (ModuleInstance::setMemoryBudget). Unset: memoryBytes is the requirement.
  std::function<int64_t(const Params&, const std::vector<Shape>&)> minMemoryBytes;
  /// Optional, with minMemoryBytes: the estimated peak of a run within `budget` bytes (as
  /// fl::run does it, probes recorded): memoryBytes when that fits, else the planned working
  /// set of the chunked computation (at most the budget). RunResult::estimatedBytes reports it.
  /// `selection` says which outputs and probes the run computes (osra and cmgm then need only
  /// O(HW) when neither the attention probe nor cam is selected).
  std::function<int64_t(const Params&, const std::vector<Shape>&, int64_t budget,
                        const OutputSelection& selection)>
      plannedMemoryBytes;
  /// Optional: the work of one forward computing `selection` (unset: estimated from
  /// memoryBytes as bytes moved, see core/run/estimate.h).
  std::function<WorkEstimate(const Params&, const std::vector<Shape>&, const OutputSelection&)>
      work;
  /// The module's state_dict for these parameters and (checked) input shapes, computed
  /// without building it: every parameter, then every buffer, in the order, names and shapes
  /// of the built module's moduleStateDict(). `inspect --module` matches files against it
  /// and the memory budget counts its bytes before anything is allocated (a module's weights
  /// can dwarf its activations: aff at C = 24000 holds 2.3 GB). Required: the registry refuses
  /// a descriptor without it, and tests/core/test_module_state.cpp compares it with the built
  /// module for every registered module at several parameter sets and shapes.
  std::function<std::vector<StateTensor>(const Params&, const std::vector<Shape>&)> state;
  /// Builds the module for these parameters and (checked) input shapes.
  std::function<std::shared_ptr<ModuleInstance>(const Params&, const std::vector<Shape>&)> make;

  const ProbeSpec* findProbe(const std::string& name) const;
};

}  // namespace fl
