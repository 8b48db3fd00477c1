#pragma once
// The Points dock: the open script source (a TorchScript file or a capture) and its points.
// A one-time notice that TorchScript runs code from the file, the capture's check (green when
// it matches the user's PyTorch run, red when not), the predicted class of a classifier, the
// input (the photo through explicit preprocessing, or the opened inputs), and a tree of the
// points grouped by module path with their kind, shape and stride; points inside control flow
// are listed greyed with the reason. Choosing a point shows it in the main view. A view of the
// document: it edits the document, never runs anything itself.
#include <QWidget>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTreeWidget;
class QTreeWidgetItem;
class QFrame;

namespace fl::ui {

class Document;

class PointsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit PointsPanel(Document* document, QWidget* parent = nullptr);

  QTreeWidget* tree() const { return tree_; }
  /// The capture's check ("" for a TorchScript file).
  QString statusText() const;
  /// A refusal, a run failure or what the script still needs ("" when nothing to say).
  QString messageText() const;
  /// The notice that TorchScript runs code from the file (shown once per file).
  bool noticeVisible() const;
  QString predictionText() const;
  /// The tree item of a point by its name ("layers.0.cbam.SpatialGate.sigmoid"); null if none.
  QTreeWidgetItem* itemForPoint(const QString& name) const;

 public Q_SLOTS:
  /// Says once that TorchScript runs code from `path` (ScriptController::opened, firstTime).
  void showNotice(const QString& path);
  /// A refusal or run failure, in red, until the next success.
  void showError(const QString& message);

 Q_SIGNALS:
  /// Back to the built-in modules.
  void closeRequested();

 private:
  void syncFromDocument();
  void rebuildTree();
  void syncPreprocess();
  void pushPreprocess();
  void selectCurrent();

  Document* document_;
  QFrame* notice_;
  QLabel* noticeText_;
  QLabel* file_;
  QLabel* status_;
  QLabel* message_;
  QLabel* prediction_;
  QComboBox* input_;
  QWidget* preprocessBox_;
  QComboBox* resize_;
  QSpinBox* width_;
  QSpinBox* height_;
  QSpinBox* multiple_;
  QComboBox* order_;
  QComboBox* range_;
  QLineEdit* mean_;
  QLineEdit* std_;
  QPushButton* imagenet_;
  QCheckBox* moduleOutputs_;
  QTreeWidget* tree_;
  QPushButton* close_;
  QString errorText_;
  bool syncing_ = false;
};

}  // namespace fl::ui
