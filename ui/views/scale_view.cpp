#include "ui/views/scale_view.h"

#include <ATen/ATen.h>

#include <QSplitter>
#include <QVBoxLayout>
#include <cmath>

#include "ui/document.h"
#include "ui/views/bar_panel.h"

namespace fl::ui {

ScaleView::ScaleView(Document* document, QWidget* parent) : KindView(document, parent) {
  auto* split = new QSplitter(Qt::Vertical);
  bars_ = new BarPanel;
  matrix_ = new HeatmapPanel;
  split->addWidget(bars_);
  split->addWidget(matrix_);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);
  forwardHover(matrix_);
  connect(bars_, &BarPanel::hovered, this, &KindView::hovered);
}

void ScaleView::showTensor(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const int64_t b = batchOf(t.value);
  // [C,S]; a network's point may carry trailing unit dims ([B,C,S,1]: MSF's weights)
  const at::Tensor w = t.value[b].to(at::kDouble).reshape({t.value.size(1), -1}).contiguous();
  const int64_t c = w.size(0), s = w.size(1);
  QVector<QVector<double>> series(s, QVector<double>(c));
  QStringList names;
  for (int64_t j = 0; j < s; ++j) {
    names << tr("scale %1").arg(j);
    for (int64_t i = 0; i < c; ++i) series[j][i] = w[i][j].item<double>();
  }
  bars_->showBars(series, names, v.sortBars, v.topK, 0.0, std::isnan(t.hi) ? w.max().item<double>() : t.hi,
                  t.label + tr(", batch %1 (uniform = %2)").arg(b).arg(1.0 / s, 0, 'g', 3));
  HeatmapStyle style = styleFor(w.t(), t, v, false);
  style.title = tr("scale (rows) x channel (columns)");
  style.keepAspect = false;
  style.xLabel = tr("channel");
  style.yLabel = tr("scale");
  style.rowNames = names;  // "scale 0".."scale 3" on the rows, not the edges 0..4
  matrix_->showMap(w.t(), QImage(), style);
}

}  // namespace fl::ui
