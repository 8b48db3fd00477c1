#pragma once
// The compare panel: columns of modules run on the document's current inputs, rows
// of probes, a shared or per-panel colour scale written on the colour bars, an A - B
// difference column, linked zoom/pan and crosshair (CompareView), the statistics table, and
// export to PNG/SVG/PDF with the figure spec beside it. Figures are built on a worker thread
// (core figure::buildFigure); stale builds are dropped by generation.
#include <QWidget>
#include <memory>
#include <vector>

#include "core/figure/figure_model.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QTableWidget;

namespace fl::ui {

class Document;
class CompareView;

/// What a build on the worker returns.
struct CompareBuild {
  uint64_t generation = 0;
  std::shared_ptr<figure::FigureModel> model;  ///< null on error
  QString error;
};

class ComparePanel : public QWidget {
  Q_OBJECT
 public:
  explicit ComparePanel(Document* document, QWidget* parent = nullptr);
  ~ComparePanel() override;

  /// Adds the document's current module with its parameters and weights as a column.
  void addCurrentModule();
  /// Adds a module with default parameters and seeded weights.
  void addModule(const QString& id);
  void removeColumn(int index);
  void clearColumns();
  /// Moves a column (drag in the list); a difference column keeps its two modules.
  void moveColumn(int from, int to);
  /// The column's title in the figure ("" = the module's name); double-click in the list.
  void setColumnLabel(int index, const QString& label);
  const std::vector<figure::FigureColumn>& columns() const { return columns_; }

  /// The spec of what is compared now: the document's assigned inputs (with their feature
  /// sources), the columns, the row and scale settings.
  figure::FigureSpec currentSpec() const;
  /// Settings that are not columns (row, view, scale, width, difference), to and from a spec
  /// (sessions use it).
  void applySettings(const figure::FigureSpec& spec, bool rebuild = true);

  /// Rebuilds the figure on the worker (no-op without columns or inputs).
  void refresh();
  /// The last built figure, or null.
  std::shared_ptr<const figure::FigureModel> model() const { return model_; }
  CompareView* view() const { return view_; }
  /// True from a build's start until its figure (or error) is shown and no newer build
  /// waits: the future alone finishes before its result reaches the panel.
  bool busy() const { return building_; }

  /// Exports the current figure (format by extension) and its spec and statistics. Without
  /// `overwrite`, refuses when a file exists. Returns an empty string or the error.
  QString exportTo(const QString& path, bool overwrite);

  /// Asks for a file and exports the figure (File > Export figure..., the dock's button).
  void exportDialog();

 Q_SIGNALS:
  void built();
  void failed(const QString& message);
  void message(const QString& text, bool error);

 private:
  void onBuilt(CompareBuild b);
  void saveStatistics();
  void showModel();
  void updateColumnList();
  void rowsFromFields();
  QString viewKey() const;
  /// Why the figure cannot be exported now ("" when it can).
  QString exportBlocker() const;

  Document* document_;
  std::vector<figure::FigureColumn> columns_;
  /// The figure's rows: from the Probe and View fields, or exactly as a spec or session gave
  /// them (rows with different views) until those fields are edited.
  std::vector<figure::FigureRow> rows_ = {figure::FigureRow{}};
  QString rowFields_ = QStringLiteral("auto|mean");  // the fields' text rows_ came from
  /// What the last applied spec or session set that has no control here (dpi, fonts,
  /// percentiles, interpolation, seed, ...): kept, so it survives into exports and sessions.
  figure::FigureSpec base_;
  QComboBox* moduleBox_;
  QListWidget* columnList_;
  QLineEdit* probeEdit_;
  QComboBox* viewBox_;
  QComboBox* normBox_;
  QCheckBox* shared_;
  QComboBox* differenceBox_;  ///< none, or a pair of columns (A - B)
  QComboBox* widthBox_;
  CompareView* view_;
  QLabel* hover_;
  QLabel* status_;
  QTableWidget* table_;
  std::shared_ptr<const figure::FigureModel> model_;
  uint64_t job_ = 0;  ///< the build on the worker; 0 none
  uint64_t generation_ = 0;
  bool pending_ = false;   // a refresh asked for while a build ran
  bool building_ = false;
  QString lastError_;
  /// The last build failed: the figure on screen is from before the last change, so it is
  /// not exported (it would not match the settings shown).
  bool stale_ = false;
  /// Colormap, alpha and batch of the main view that the figure was built with: the
  /// comparison follows the main view's.
  QString builtView_;
};

}  // namespace fl::ui
