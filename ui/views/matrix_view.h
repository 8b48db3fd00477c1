#pragma once
// Channel x channel matrices [B,C,C] (ChannelMatrix, CAFM's cross attention): one heatmap, square
// when the matrix is.
#include "ui/views/kind_view.h"

namespace fl::ui {

class MatrixView : public KindView {
  Q_OBJECT
 public:
  explicit MatrixView(Document* document, QWidget* parent = nullptr);
  void showTensor(const SelectedTensor& t) override;

  HeatmapPanel* matrix() const { return matrix_; }

 private:
  HeatmapPanel* matrix_;
};

}  // namespace fl::ui
