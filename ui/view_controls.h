#pragma once
// The view bar above the plots: which tensor, batch, channel, head, colormap,
// normalisation, alpha, complement, PCA, sorting and top-k. Edits the document's
// ViewSettings; shows only the controls that apply to the current tensor's view.
#include <QWidget>

class QComboBox;
class QSpinBox;
class QSlider;
class QCheckBox;

namespace fl::ui {

class Document;

class ViewControls : public QWidget {
  Q_OBJECT
 public:
  explicit ViewControls(Document* document, QWidget* parent = nullptr);
  QComboBox* tensorCombo() const { return tensor_; }

 private:
  void syncFromDocument();
  void push();

  Document* document_;
  QComboBox* tensor_;
  QSpinBox* batch_;
  QSpinBox* channel_;
  QSpinBox* head_;
  QComboBox* colormap_;
  QComboBox* norm_;
  QSlider* alpha_;
  QCheckBox* complement_;
  QCheckBox* pca_;
  QCheckBox* sort_;
  QSpinBox* topK_;
  bool syncing_ = false;
};

}  // namespace fl::ui
