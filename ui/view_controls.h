#pragma once
// The view bar above the plots: which tensor, batch, channel, head, colormap,
// normalisation, alpha, complement, PCA, sorting and top-k. Edits the document's
// ViewSettings; enables only the controls that apply to the current tensor's view. The
// controls wrap onto more rows when the window is narrow, so the window fits small screens.
#include <QWidget>

class QComboBox;
class QSpinBox;
class QSlider;
class QCheckBox;
class QLabel;

namespace fl::ui {

class Document;

class ViewControls : public QWidget {
  Q_OBJECT
 public:
  explicit ViewControls(Document* document, QWidget* parent = nullptr);
  QComboBox* tensorCombo() const { return tensor_; }
  QSlider* alphaSlider() const { return alpha_; }

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
  QLabel* alphaValue_;
  QCheckBox* complement_;
  QCheckBox* pca_;
  QCheckBox* sort_;
  QSpinBox* topK_;
  bool syncing_ = false;
};

}  // namespace fl::ui
