#include "ui/views/matrix_view.h"

#include <ATen/ATen.h>

#include <QVBoxLayout>

#include "ui/document.h"

namespace fl::ui {

MatrixView::MatrixView(Document* document, QWidget* parent) : KindView(document, parent) {
  matrix_ = new HeatmapPanel;
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(matrix_);
  forwardHover(matrix_);
}

void MatrixView::showTensor(const SelectedTensor& t) {
  const int64_t b = batchOf(t.value);
  const at::Tensor m = t.value[b];
  HeatmapStyle style = styleFor(m, t, document_->view(), false);
  style.title = t.label + tr(" (rows x columns), batch %1").arg(b);
  style.keepAspect = m.size(0) == m.size(1);  // a square channel matrix stays square
  style.xLabel = tr("channel (column)");
  style.yLabel = tr("channel (row)");
  matrix_->showMap(m, QImage(), style);
}

}  // namespace fl::ui
