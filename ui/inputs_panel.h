#pragma once
// The inputs dock: opened images and tensor files with their shapes and previews, the
// feature source for images, and which opened input feeds each of the module's inputs.
#include <QStringList>
#include <QWidget>
#include <vector>

class QListWidget;
class QComboBox;
class QFormLayout;
class QLabel;
class QWidget;

namespace fl::ui {

class Document;

class InputsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit InputsPanel(Document* document, QWidget* parent = nullptr);
  QString featureSpec() const;
  void setFeatureSpec(const QString& spec);

 Q_SIGNALS:
  void openRequested();

 private:
  void refresh();
  /// Greys out the feature spec while the open script source ignores it, and the module's
  /// input slots while a script source runs instead of the module (Document's
  /// featuresUnusedReason / moduleUnusedReason), with the reason in the tooltips.
  void showWhetherUsed();

  Document* document_;
  QListWidget* list_;
  QComboBox* features_;
  QLabel* featureNote_;
  QString featureText_;  ///< what featureNote_ says while the spec is used
  QString featureStyle_;
  QWidget* slotsHost_ = nullptr;  ///< made after the feature row, which calls showWhetherUsed
  QStringList slotNames_;               ///< the module inputs the combos were built for
  std::vector<QComboBox*> slotCombos_;  ///< one per module input, in order
};

}  // namespace fl::ui
