#pragma once
// The compare panel, a view of the document's comparison (Document::comparison()) and of its
// controller (ui/compare_controller.h): the module columns, the probe rows, the scale, the
// A - B difference and the width as controls that edit the document; the figure (CompareView:
// linked zoom/pan and crosshair), the statistics table and the status from the controller;
// export to PNG/SVG/PDF with the figure spec beside it.
#include <QString>
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
class CompareController;
class CompareView;

class ComparePanel : public QWidget {
  Q_OBJECT
 public:
  /// Without `controller`, the panel makes its own (a panel on its own, as in tests).
  explicit ComparePanel(Document* document, QWidget* parent = nullptr, CompareController* controller = nullptr);

  CompareController* controller() const { return controller_; }

  // Shortcuts to the document's comparison and the controller (menus, tests).
  /// Adds the document's current module with its parameters and weights as a column.
  void addCurrentModule();
  /// Adds a module with default parameters and seeded weights.
  void addModule(const QString& id);
  /// Adds a point of a TorchScript file or capture as a column (CompareController).
  void addNetworkPoint(const QString& file, const QString& point);
  /// Asks for a .pt or .flcap file, lists its points on the job service, then asks for one
  /// ("Add network point...").
  void addNetworkPointDialog();
  void removeColumn(int index);
  void clearColumns();
  /// Moves a column (drag in the list); a difference column keeps its two modules.
  void moveColumn(int from, int to);
  /// The column's title in the figure ("" = the module's name); double-click in the list.
  void setColumnLabel(int index, const QString& label);
  const std::vector<figure::FigureColumn>& columns() const;
  /// The spec of what is compared now (Document::comparisonSpec()).
  figure::FigureSpec currentSpec() const;
  /// Replaces the comparison with a spec's columns, rows, scale, difference and layout.
  void applySettings(const figure::FigureSpec& spec);
  /// Rebuilds the figure now.
  void refresh();
  std::shared_ptr<const figure::FigureModel> model() const;
  CompareView* view() const { return view_; }
  bool busy() const;
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
  /// The controls show the document's comparison (they never hold state of their own).
  void syncFromDocument();
  /// The figure, status and statistics show the controller's.
  void syncFromController();
  void rowsFromFields();
  void saveStatistics();

  Document* document_;
  CompareController* controller_;
  /// The Probe and View fields' text the document's rows were last shown as: focus leaving
  /// an untouched field changes nothing (rows a spec gave, with a view each, stay).
  QString rowFields_;
  /// The document's rows the fields were last filled from (or produced): other changes of
  /// the comparison leave what is being typed alone.
  QString rowsShown_;
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
  std::shared_ptr<const figure::FigureModel> shown_;  ///< the model on the canvas
  QString pendingPointFile_;  ///< the file whose points are being listed for the dialog
};

}  // namespace fl::ui
