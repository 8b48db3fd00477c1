#pragma once
/// Any module or whole network as TorchScript: its attention points found in the
/// inlined forward graph, named by module path, classified by shape into the probe kinds,
/// and captured in one run of a copy of the graph that also returns them.
///
/// Attention points are the outputs of sigmoid, hardsigmoid and softmax (in-place forms
/// included); on request also the output of every submodule. A point is named by the
/// instance names of its node's inlined call stack plus the operator
/// ("layer3.1.cbam.spatial.sigmoid"; a second one in the same module gets "_1", ...); a
/// submodule output by the module path itself ("layer3.1.cbam"). Points inside the blocks of
/// scripted `if`/loops cannot be returned from the graph: they are listed as not capturable,
/// with the reason, never dropped silently.
#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/io/tensor_io.h"
#include "core/modules/probe.h"

namespace fl::script {

/// A point as the graph describes it (before any run).
struct PointSpec {
  std::string name;        ///< unique; also the probe name ("probe.<name>" in --save)
  std::string modulePath;  ///< "" for the top module
  std::string op;          ///< "aten::sigmoid", ... or "module output"
  bool attention = true;   ///< false for submodule outputs
  bool capturable = true;
  std::string reason;      ///< why not capturable (e.g. "inside a prim::If block")
};

/// A captured point with its value and what its shape says it is.
struct ScriptPoint {
  PointSpec spec;
  std::optional<ProbeKind> kind;  ///< nullopt: "unclassified"
  /// CPU float32 in the kind's layout: as computed, or permuted / reshaped as `note` says.
  at::Tensor value;
  std::vector<int64_t> rawShape;  ///< the shape the graph computed
  std::string note;
  /// Image (first input) size over the point's grid, rows and columns; 0 when the point has
  /// no spatial grid or the first input has none.
  double strideH = 0, strideW = 0;
};

/// "channel_weights", ... or "unclassified".
std::string pointKindName(const std::optional<ProbeKind>& kind);

/// What a point's shape says it is, and how to show it in the probe kind's layout.
struct PointShape {
  std::optional<ProbeKind> kind;  ///< nullopt: "unclassified"
  std::vector<int64_t> permute;   ///< applied first when not empty (channels-last -> NCHW)
  std::vector<int64_t> view;      ///< then reshaped to this when not empty
  std::string note;               ///< says what was permuted / reshaped
};

/// The kind of a point's shape (rules in the .cpp). `grids` are the spatial grids (H,W) of
/// the run: the inputs' and the first input's under the usual strides; `channels` the
/// inputs' channel counts. `attention` is false for submodule outputs (never a gate then).
PointShape classifyPoint(at::IntArrayRef shape, bool attention, const std::string& op,
                         const std::vector<std::pair<int64_t, int64_t>>& grids,
                         const std::vector<int64_t>& channels);

struct ScriptRunResult {
  NamedTensors outputs;             ///< "output", or "output.0", "output.1.key", ...
  std::vector<ScriptPoint> points;  ///< capturable points in graph order
  std::vector<PointSpec> notCaptured;
  std::vector<std::string> notes;   ///< non-tensor outputs that were skipped
};

/// A TorchScript file loaded safely (core/io/torchscript_safety.h) and analysed.
class ScriptModel {
 public:
  /// Loads, checks and analyses `path`. Throws fl::Error(Input) naming the file.
  static std::shared_ptr<ScriptModel> load(const std::string& path);
  ~ScriptModel();

  const std::string& path() const;
  /// forward's tensor inputs by their names in the graph (without `self`).
  const std::vector<std::string>& inputNames() const;
  /// How many values forward returns (1 when it returns one tuple).
  size_t outputCount() const;
  /// Every point, capturable or not; with `moduleOutputs` also the submodule outputs.
  std::vector<PointSpec> points(bool moduleOutputs) const;
  /// Operator names of the inlined graph with their counts (sorted by name).
  std::vector<std::pair<std::string, int>> operatorCounts() const;

  /// A plausible input shape per input when none is given: channels from the first
  /// convolution / linear / normalisation weight of the graph, 224x224 for 3 channels, else
  /// 32x32. nullopt when the graph gives no hint.
  std::optional<std::vector<std::vector<int64_t>>> guessInputShapes() const;

  /// Runs forward once (CPU, no autograd) on `inputs` and returns the outputs and every
  /// capturable point. Throws fl::Error(Input) for a wrong input count or a failing forward.
  /// The tensors the forward allocates are capped at `maxMemoryBytes` (0: defaultMemoryBudget()):
  /// a network's memory cannot be planned ahead (an attention inside grows as (H*W)^2), so an
  /// allocation that would pass the budget is refused when it is asked for, with
  /// fl::Error(Memory) naming its size (core/run/memory_limit.h).
  ScriptRunResult run(const std::vector<at::Tensor>& inputs, bool moduleOutputs, int64_t maxMemoryBytes = 0) const;

 private:
  struct Impl;
  explicit ScriptModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fl::script
