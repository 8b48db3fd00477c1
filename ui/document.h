#pragma once
// The Document owns the explorer's state: inputs, the chosen module and its parameters,
// weights, device, the last good result and the view settings (Tiled's MapDocument
// pattern). Views observe it; only controllers and views' user actions change it.
#include <ATen/core/Tensor.h>

#include <QImage>
#include <QObject>
#include <QPoint>
#include <QStringList>
#include <QString>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/figure/figure_spec.h"
#include "core/io/state_dict.h"
#include "core/modules/registry.h"
#include "core/run/attention_query.h"
#include "core/run/run.h"
#include "ui/script_source.h"
#include "ui/view_settings.h"

namespace fl::ui {

class JobService;

/// How the shown result was made: its request (for attention rows on demand) and what the
/// run measured.
struct ResultContext {
  RunRequest request;            ///< the snapshot that produced the result
  /// Peak tensor memory of the run's job alone (core/run/memory_meter.h); -1 unknown.
  int64_t peakBytes = -1;
};

/// On-demand attention rows of one query pixel, for a result whose full `attention` probe
/// was withheld over the memory budget.
struct QueryRows {
  uint64_t requestId = 0;        ///< the result's request id
  int x = -1, y = -1;            ///< query pixel in the query grid
  at::Tensor rows;               ///< [B, heads, Nk] CPU float32; undefined on error
  QString error;
};

/// One opened input: an image turned into features, or a tensor file.
struct InputItem {
  QString path;
  QString label;        ///< file name, plus the tensor name or feature spec
  QString featureSpec;  ///< for images: the extractor used
  at::Tensor tensor;    ///< [1|B, C, H, W] float32, CPU
  QImage image;         ///< the picture for overlays (RGB888); null for tensor files
};

/// Everything a session restores at once (Document::restore).
struct DocumentState {
  std::vector<InputItem> inputs;
  std::vector<int> assignment;  ///< per module input: index into `inputs`, -1 none
  QString moduleId;
  std::map<std::string, std::string> params;
  QString weightsPath;
  std::shared_ptr<const NamedTensors> weights;  ///< null: seeded init
  DeviceChoice device = DeviceChoice::Auto;
  int64_t memoryBudget = 0;
  ViewSettings view;
  figure::FigureSpec comparison;  ///< the comparison (no columns: nothing compared)
};

class Document : public QObject {
  Q_OBJECT
 public:
  explicit Document(const ModuleRegistry& registry, QObject* parent = nullptr);

  const ModuleRegistry& registry() const { return registry_; }
  /// The one service that runs this document's LibTorch work (runs, compare columns, loads).
  JobService* jobs() const { return jobs_; }

  // Inputs -----------------------------------------------------------------------------
  const std::vector<InputItem>& inputs() const { return inputs_; }
  void addInput(InputItem item);
  /// Files opened together (one Open dialog, one drop, the command line): they fill the
  /// module's inputs in order from the first one; one file behaves as addInput.
  void addInputs(std::vector<InputItem> items);
  void removeInput(int index);
  /// Removes every input at once (one change: opening an example starts from its own image).
  void clearInputs();
  /// Which opened input feeds each named input of the module (-1 = none).
  const std::vector<int>& assignment() const { return assignment_; }
  void assign(int slot, int inputIndex);

  // Module ------------------------------------------------------------------------------
  QString moduleId() const { return moduleId_; }
  const ModuleDescriptor* descriptor() const;
  void setModule(const QString& id);
  const std::map<std::string, std::string>& params() const { return params_; }
  void setParam(const std::string& name, const std::string& value);
  QString weightsPath() const { return weightsPath_; }
  /// Weights of the current module; kept per module for the session (setModule brings
  /// back a module's weights when it is chosen again).
  void setWeights(const QString& path, std::shared_ptr<const NamedTensors> weights);
  void clearWeights();
  DeviceChoice device() const { return device_; }
  void setDevice(DeviceChoice device);
  /// Memory budget of a run in bytes; 0 = the core's default (60% of available memory).
  int64_t memoryBudget() const { return memoryBudget_; }
  void setMemoryBudget(int64_t bytes);

  /// "" when a run can start, else why not (missing inputs, a failing constraint check).
  QString readiness() const;
  /// For a ready request: the estimated peak against the budget, and what a run over the
  /// budget computes in chunks or withholds. "" when not ready.
  QString estimate() const;
  /// A snapshot of everything a run needs.
  RunRequest makeRequest(uint64_t requestId) const;
  /// The outputs and probes a run computes (RunRequest::outputs; empty = all). Modules that
  /// can leave (HW)^2 work out (a plannedMemoryBytes: osra and cmgm) compute their first
  /// output always, and the rest (the full attention matrix, cmgm's cam) only when the view
  /// shows it (the view's tensor; before a result, the probe a result would be shown with)
  /// or an export asked for everything (requestEverything); otherwise the fused attention
  /// runs. Changing the view to or away from such a tensor changes the request.
  std::vector<std::string> wantedOutputs() const;
  /// Outputs and probes ("output.1", "probe.attention") the shown result left out because
  /// nobody asked for them (not those withheld over the memory budget).
  QStringList notComputed() const;
  /// From now on (until another module or a session is chosen) runs compute every output
  /// and probe: File > Export probes of a result that left some out.
  void requestEverything();
  /// Counts changes of what a run would compute (each requestChanged): a result made from
  /// an older revision no longer matches the document and is not shown.
  uint64_t revision() const { return revision_; }

  // Results -----------------------------------------------------------------------------
  const RunResult* result() const { return result_ ? &*result_ : nullptr; }
  /// A successful run; replaces the shown result. `context` carries its request (needed
  /// for attention rows on demand) and measurements.
  void setResult(RunResult result, ResultContext context = {});
  const ResultContext& resultContext() const { return resultContext_; }
  void setRunError(const QString& message);  ///< a failed run; the last good result stays
  void setRunError(const Error& error);      ///< the same, worded for the window (guiText)
  QString lastError() const { return lastError_; }

  /// The image under the overlay for the result's module input `slot` (may be null).
  QImage baseImage(int slot = 0) const;
  /// The tensor that fed the result's module input `slot` (undefined if gone).
  at::Tensor resultInput(int slot) const;

  // Attention rows on demand ---------------------------------------------------------
  /// Attention probes the module declares but the result withheld (over the budget): their
  /// rows are computed per query pixel. Names as in the view settings ("probe.attention").
  QStringList onDemandProbes() const;
  bool isOnDemandProbe(const QString& tensor) const;
  /// Asks for the rows of query pixel (x, y) of the shown result: emits queryRowsWanted
  /// once per pixel (a controller computes them off the GUI thread); with `retry`, again for
  /// a pixel whose rows failed or were cancelled.
  void requestQueryRows(int x, int y, bool retry = false);
  /// Rows for the shown result's query pixel; ignored when they belong to another result.
  void setQueryRows(QueryRows rows);
  /// The rows of the last computed pixel of the shown result (requestId 0 when none).
  const QueryRows& queryRows() const { return queryRows_; }
  /// The pixel asked for last for the shown result; (-1, -1) when none.
  QPoint wantedQuery() const { return wantedQuery_; }

  // View settings -----------------------------------------------------------------------
  const ViewSettings& view() const { return view_; }
  void setView(const ViewSettings& view);

  // Comparison (the Compare dock) ------------------------------------------------------
  /// What is compared and how (architecture.md, "The comparison is document state"): the
  /// columns, rows, difference pair, scale and layout, as a figure spec without inputs (the
  /// comparison runs on this document's inputs, in its view's colormap, alpha and batch).
  /// What no control sets (dpi, fonts, percentiles, seed, ...) is kept as a spec gave it.
  const figure::FigureSpec& comparison() const { return comparison_; }
  /// Replaces the comparison (a figure spec, a session). Its inputs are ignored; empty rows
  /// keep the current rows; a difference pair out of range is dropped.
  void setComparison(figure::FigureSpec spec);
  void addComparisonColumn(figure::FigureColumn column);
  /// The difference pair goes with either of its two columns, else keeps them.
  void removeComparisonColumn(int index);
  void clearComparisonColumns();
  /// Moves a column; the difference pair keeps its two columns.
  void moveComparisonColumn(int from, int to);
  /// The column's title in the figure ("" = the module's name).
  void setComparisonColumnLabel(int index, const std::string& label);
  /// The figure's rows (at least one).
  void setComparisonRows(std::vector<figure::FigureRow> rows);
  /// A - B of two columns, or none.
  void setComparisonDifference(std::optional<std::pair<int, int>> pair);
  void setComparisonScale(render::NormMode mode, bool shared);
  void setComparisonWidth(double inches);
  /// The spec of what is compared now: the comparison on the inputs assigned to the current
  /// module (with their feature sources), or the opened inputs in order when a column needs
  /// more; colormap, alpha and batch from the view (a diverging colormap becomes viridis: the
  /// difference column has its own).
  figure::FigureSpec comparisonSpec() const;
  /// Counts changes of the list of opened inputs (opened, removed, a session): compare runs
  /// cached for one revision are not reused for another.
  uint64_t inputsRevision() const { return inputsRevision_; }

  // Script source (a TorchScript file or a capture instead of the module) -----------------
  /// The opened TorchScript file or capture, or null: the built-in module is what runs.
  /// While one is open the module does not run (readiness() says so); choosing a module
  /// (setModule) or closeScript() goes back to it. ScriptController loads and runs it.
  const ScriptSource* script() const { return script_ ? &*script_ : nullptr; }
  /// A loaded script source replaces what runs; the shown result stays until its first run.
  void setScript(ScriptSource source);
  void closeScript();
  /// Preprocessing of the photo for a whole network (core/features/preprocess.h text form).
  void setScriptPreprocess(const std::string& text);
  /// Also capture every submodule's output as a point.
  void setScriptModuleOutputs(bool on);
  /// The network takes the first opened image (through the preprocessing), not the opened
  /// inputs' tensors.
  void setScriptImageInput(bool on);
  /// "" when the script source can run, else what is missing (no image opened, ...).
  QString scriptReadiness() const;
  /// "" while the built-in module runs; while a script source is open, why the module, its
  /// parameters, weights and input slots are not used (the Module and Inputs docks grey
  /// them out with this as the reason).
  QString moduleUnusedReason() const;
  /// "" while image features are used; else why not: a capture brings its own inputs, a
  /// whole network reads the photo itself (preprocessed). A TorchScript module fed the
  /// opened inputs' tensors uses them (an image's features), so then "".
  QString featuresUnusedReason() const;
  /// A run of the script source: its points (as the result's probes), image and prediction.
  void setScriptResult(ScriptRun run, RunResult result, ResultContext context = {});
  /// The last run of the current script source; null when none.
  const ScriptRun* scriptRun() const { return scriptRun_ ? &*scriptRun_ : nullptr; }

  // Sessions ----------------------------------------------------------------------------
  /// Replaces the whole state (File > Open session). The shown result is dropped: it belongs
  /// to the old state. An unknown module leaves none chosen; an assignment entry out of
  /// range becomes -1. Emits every change signal once.
  void restore(DocumentState state);

 Q_SIGNALS:
  void inputsChanged();
  void moduleChanged();
  /// Anything that changes what a run would compute (inputs, module, params, weights, device).
  void requestChanged();
  void resultChanged();
  void runFailed(const QString& message);
  void viewChanged();
  /// The comparison changed (columns, rows, difference, scale or layout).
  void comparisonChanged();
  void queryRowsWanted(int x, int y);
  void queryRowsChanged();
  /// A script source was opened, closed, or its preprocessing / options changed.
  void scriptChanged();

 private:
  void resetAssignment();
  QString scriptBlocksModule() const;

  const ModuleRegistry& registry_;
  JobService* jobs_;  ///< a child: its worker stops (after its running job) with the document
  uint64_t revision_ = 0;
  std::vector<InputItem> inputs_;
  std::vector<int> assignment_;
  QString moduleId_;
  std::map<std::string, std::string> params_;
  QString weightsPath_;
  std::shared_ptr<const NamedTensors> weights_;
  /// Weights loaded this session, per module id: switching away and back keeps them.
  std::map<QString, std::pair<QString, std::shared_ptr<const NamedTensors>>> moduleWeights_;
  DeviceChoice device_ = DeviceChoice::Auto;
  int64_t memoryBudget_ = 0;
  std::optional<RunResult> result_;
  ResultContext resultContext_;
  QueryRows queryRows_;
  QPoint wantedQuery_{-1, -1};
  std::vector<int> resultAssignment_;
  QString lastError_;
  ViewSettings view_;
  figure::FigureSpec comparison_;
  uint64_t inputsRevision_ = 0;
  std::optional<ScriptSource> script_;
  std::optional<ScriptRun> scriptRun_;
  bool wantEverything_ = false;  ///< requestEverything(): until another module or a session
};

}  // namespace fl::ui
