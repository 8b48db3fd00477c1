#include "ui/views/map_view.h"

#include <ATen/ATen.h>

#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "core/render/reductions.h"
#include "ui/document.h"
#include "ui/qcp.h"
#include "ui/views/bar_panel.h"

namespace fl::ui {

MapView::MapView(Document* document, QWidget* parent) : KindView(document, parent) {
  auto* split = new QSplitter(Qt::Vertical);
  heatmap_ = new HeatmapPanel;
  channelStrip_ = new BarPanel;
  channelStrip_->setMinimumHeight(120);
  split->addWidget(heatmap_);
  split->addWidget(channelStrip_);
  split->setStretchFactor(0, 5);
  split->setStretchFactor(1, 1);
  split->setChildrenCollapsible(false);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);

  forwardHover(heatmap_);
  connect(channelStrip_, &BarPanel::hovered, this, &KindView::hovered);
  connect(channelStrip_, &BarPanel::channelClicked, this, [this](int c) {
    ViewSettings v = document_->view();
    v.channel = v.channel == c ? -1 : c;  // clicking the shown channel again: back to the mean
    document_->setView(v);
  });
  connect(heatmap_, &HeatmapPanel::cellClicked, this, [this](int col, int row) {
    Q_EMIT hovered(tr("selected cell (%1, %2)").arg(col).arg(row));
  });
}

void MapView::showTensor(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const int64_t b = batchOf(t.value);
  const QImage base = document_->baseImage(0);
  if (t.kind == ProbeKind::FeatureMap && v.pca && t.value.size(1) >= 3) {
    // One RGB cell per feature cell: the axes count feature cells, not image pixels.
    heatmap_->showRgb(matToImage(render::pcaRgb(t.value[b])), t.label + tr(" (PCA to RGB)"), tr("x (feature cells)"),
                      tr("y (feature cells)"));
    channelStrip_->hide();
    return;
  }
  at::Tensor map;
  QString what;
  if (t.kind == ProbeKind::SpatialMap || t.value.size(1) == 1) {
    map = t.value[b][0];
  } else if (v.channel >= 0 && v.channel < t.value.size(1)) {
    map = t.value[b][v.channel];
    what = tr(", channel %1").arg(v.channel);
  } else {
    map = render::gateMeanMap(t.value, b);
    what = tr(", mean over %1 channels").arg(t.value.size(1));
  }
  const bool complement = v.complement && t.kind == ProbeKind::Gate;
  if (complement) map = 1 - map;
  HeatmapStyle style = styleFor(map, t, v, complement);
  style.title = t.label + (complement ? tr(" complement (1 - w)") : QString()) + what +
                tr(", batch %1").arg(b);
  heatmap_->showMap(map, base, style);
  showChannelStrip(t, b, complement);
}

void MapView::showChannelStrip(const SelectedTensor& t, int64_t b, bool complement) {
  const bool channelWise = (t.kind == ProbeKind::Gate || t.kind == ProbeKind::FeatureMap) && t.value.size(1) > 1;
  channelStrip_->setVisible(channelWise);
  if (!channelWise) return;
  at::Tensor means = t.value[b].to(at::kDouble).mean({1, 2});  // [C]
  if (complement) means = 1 - means;
  means = means.contiguous();
  QVector<double> values(means.numel());
  std::copy(means.data_ptr<double>(), means.data_ptr<double>() + means.numel(), values.begin());
  const auto [mn, mx] = std::minmax_element(values.begin(), values.end());
  const bool bounded = !std::isnan(t.lo) && !std::isnan(t.hi);
  const double lo = bounded ? t.lo : std::min(0.0, *mn), hi = bounded ? t.hi : *mx;
  const ViewSettings& v = document_->view();
  channelStrip_->showBars({values}, {tr("mean")}, false, 0, lo, hi,
                          tr("each channel's mean over H x W: click one to show it%1")
                              .arg(v.channel >= 0 ? tr(" (channel %1 shown; click it again for the mean)").arg(v.channel)
                                                  : QString()));
  channelStrip_->plot()->yAxis->setLabel(complement ? tr("mean 1 - w") : tr("mean"));
  channelStrip_->plot()->yAxis->ticker()->setTickCount(3);  // a short strip: few labels
  channelStrip_->setHighlight(v.channel);
}

}  // namespace fl::ui
