#pragma once
/// Building a comparison figure from a FigureSpec: runs every column's module on the spec's
/// inputs (core::run, exactly as `fusionlens-cli run`), reduces each row's probe to a 2-D map or
/// a channel vector, chooses colour ranges (shared per row, or per panel), and computes the
/// statistics table. No Qt: the GUI's compare view and `fusionlens-cli render` both paint a
/// FigureModel (ui/figure/figure_export.h), so the same spec gives the same figure.
#include <ATen/core/Tensor.h>

#include <functional>
#include <opencv2/core.hpp>
#include <string>
#include <vector>

#include "core/analysis/statistics.h"
#include "core/figure/figure_spec.h"
#include "core/modules/registry.h"
#include "core/run/run.h"

namespace fl::figure {

/// What a panel shows.
enum class PanelKind {
  Empty,  ///< nothing to show; `note` says why (probe missing, run failed, shapes differ)
  Map,    ///< a 2-D map [H,W], coloured with `colormap` over `range`
  Bars,   ///< channel scores [C], bars on a y axis over `range`
};

/// One panel of the grid.
struct FigurePanel {
  int row = 0;
  int column = 0;           ///< module column; == columns.size() for the difference column
  bool difference = false;  ///< the A - B column
  PanelKind kind = PanelKind::Empty;
  std::string letter;       ///< "a", "b", ... in reading order (row-major)
  std::string probe;        ///< the tensor shown ("weight", "output", ...)
  std::string what;         ///< how it was reduced, e.g. "channel mean", "1 - channel mean"
  at::Tensor values;        ///< Map: [H,W]; Bars: [C]; CPU float32 raw units
  bool spatial = false;     ///< a map on the input's pixel grid (can lie over the underlay)
  render::Range range;      ///< the colour (Map) or y (Bars) range used
  render::Colormap colormap = render::Colormap::Viridis;
  int colorbar = -1;        ///< index into FigureModel::colorbars (Map panels)
  std::string note;         ///< Empty panels: why
};

/// A colour bar: one per row when the scale is shared, else one per map panel; the
/// difference column always has its own.
struct FigureColorbar {
  render::Range range;
  render::Colormap colormap = render::Colormap::Viridis;
  std::string label;  ///< the range's description, e.g. "shared natural [0, 1]"
};

/// A built figure, ready to paint.
struct FigureModel {
  FigureSpec spec;      ///< with every input and weights SHA-256 filled in
  std::string baseDir;  ///< the spec's folder: relative paths resolve against it
  int rows = 0;
  int columns = 0;      ///< module columns (+1 with a difference column)
  std::vector<std::string> columnTitles;
  std::vector<std::string> rowLabels;
  std::vector<FigurePanel> panels;  ///< row-major, rows * columns
  std::vector<FigureColorbar> colorbars;
  cv::Mat underlay;     ///< CV_8UC3 RGB image under spatial maps; empty when none
  std::vector<RunResult> runs;      ///< one per module column
  std::vector<std::vector<at::Tensor>> columnInputs;  ///< what each column ran on
  analysis::StatisticsTable statistics;
  std::vector<std::string> warnings;

  const FigurePanel& panel(int row, int column) const { return panels[row * columns + column]; }
};

/// Options of buildFigure() and prepareFigure().
struct BuildOptions {
  /// Refuse (fl::Error Input) when a file's SHA-256 differs from the one in the spec.
  bool checkHashes = true;
  /// Called before each module run: (done, total, label).
  std::function<void(int, int, const std::string&)> progress;
  /// Runs a column's request; default runFigureColumn(). The column comes with its paths
  /// resolved and its SHA-256 filled in; the request holds its inputs (and, for a module
  /// column, everything else). The GUI passes its own to reuse cached results.
  std::function<RunResult(const RunRequest&, const FigureColumn&)> runner;
};

/// What a figure is drawn from, before any row, scale or layout is applied: the spec's files
/// hashed and read, and one run per column. The expensive half of buildFigure().
struct FigureData {
  FigureSpec spec;      ///< as given, with every input and weights SHA-256 filled in
  std::string baseDir;
  std::vector<at::Tensor> inputs;  ///< the spec's inputs (later inputs on the first's grid)
  std::vector<std::vector<at::Tensor>> columnInputs;  ///< per column, what it ran on
  cv::Mat underlay;                ///< CV_8UC3 RGB; empty when none
  std::vector<RunResult> runs;     ///< one per column
  std::vector<std::string> warnings;
};

/// Hashes and reads the spec's files and runs every column (the inputs, columns, seed, device,
/// features, channelsLast and underlay of `spec`; rows, scale and layout are not used). Throws
/// as buildFigure().
FigureData prepareFigure(const ModuleRegistry& registry, const FigureSpec& spec,
                         const std::string& baseDir, const BuildOptions& options = {});

/// The figure of `spec` drawn from prepared data: rows, reductions, colour ranges, the
/// difference column and statistics; runs nothing and reads no file. `spec` must have the
/// columns `data` was prepared with (labels may differ); its rows, scale, difference, layout,
/// batch and alpha are applied. Throws fl::Error (Usage for a bad row or view).
FigureModel composeFigure(const ModuleRegistry& registry, const FigureData& data,
                          const FigureSpec& spec);

/// prepareFigure() then composeFigure(). Throws fl::Error (Usage for a bad spec: unknown module
/// or probe, bad view; Input for unreadable or changed files; the failing run's kind and
/// message for a run that fails, naming the column).
FigureModel buildFigure(const ModuleRegistry& registry, const FigureSpec& spec,
                        const std::string& baseDir, const BuildOptions& options = {});

/// Runs one column: a module column with core::run(request); a script column's TorchScript
/// file (ScriptModel, `column.script` resolved) on `request.inputs`; a capture column's trace
/// on the inputs the capture holds. Script and capture points become probes named by point,
/// sigmoid and softmax points on the natural [0, 1] scale. Returns !ok with a one-line error
/// (e.g. a `point` the file does not have, listing the ones it has) instead of throwing.
RunResult runFigureColumn(const ModuleRegistry& registry, const RunRequest& request, const FigureColumn& column);

/// The title of a column when it has no label: the module's short display name, or the stem
/// of a script or capture file.
std::string columnTitle(const ModuleRegistry& registry, const FigureColumn& column);

/// Applies `map` to every file path a spec names: its inputs, each column's weights, script,
/// capture and inputs, and the model file of each `torchscript:path=...` feature spec
/// (rewritten in the spec's text). For rebasing a spec onto another folder (exported figures,
/// sessions).
void mapSpecPaths(FigureSpec& spec, const std::function<std::string(const std::string&)>& map);
void mapColumnPaths(FigureColumn& column, const std::function<std::string(const std::string&)>& map);

/// The pixels of a Map panel at `size` (CV_8UC3 RGB): the map coloured over its range,
/// resized with the spec's interpolation, and alpha-blended over the underlay when the panel
/// is spatial and the model has one. Deterministic: GUI and CLI exports share it.
cv::Mat composePanel(const FigureModel& model, const FigurePanel& panel, cv::Size size);

/// The statistics of a figure as CSV (statistics.h toCsv()).
std::string statisticsCsv(const FigureModel& model);

/// The channel scores [C] of a run for statistics: a ChannelWeights probe's batch element, or
/// a Gate probe's spatial mean per channel; undefined when the module has neither. `source`
/// receives the probe name and reduction.
at::Tensor channelScores(const RunResult& run, int64_t batch, std::string* source);

}  // namespace fl::figure
