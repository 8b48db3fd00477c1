#pragma once
// The inputs dock: opened images and tensor files with their shapes and previews, the
// feature source for images, and which opened input feeds each of the module's inputs.
#include <QStringList>
#include <QWidget>
#include <vector>

class QListWidget;
class QComboBox;
class QFormLayout;
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

  Document* document_;
  QListWidget* list_;
  QComboBox* features_;
  QWidget* slotsHost_;
  QStringList slotNames_;               ///< the module inputs the combos were built for
  std::vector<QComboBox*> slotCombos_;  ///< one per module input, in order
};

}  // namespace fl::ui
