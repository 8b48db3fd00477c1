#include "ui/views/channel_bars_view.h"

#include <ATen/ATen.h>

#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "ui/document.h"
#include "ui/views/bar_panel.h"

namespace fl::ui {

ChannelBarsView::ChannelBarsView(Document* document, QWidget* parent) : KindView(document, parent) {
  auto* split = new QSplitter(Qt::Vertical);
  bars_ = new BarPanel;
  auto* maps = new QSplitter(Qt::Horizontal);
  before_ = new HeatmapPanel;
  after_ = new HeatmapPanel;
  maps->addWidget(before_);
  maps->addWidget(after_);
  split->addWidget(bars_);
  split->addWidget(maps);
  pair_ = new PairArranger(maps);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(split);

  forwardHover(before_);
  forwardHover(after_);
  connect(bars_, &BarPanel::hovered, this, &KindView::hovered);
  connect(bars_, &BarPanel::channelClicked, this, [this](int c) {
    ViewSettings v = document_->view();
    v.channel = c;
    document_->setView(v);
  });
}

void ChannelBarsView::showTensor(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const int64_t b = batchOf(t.value);
  const at::Tensor w = t.value[b].to(at::kDouble).contiguous();
  QVector<double> values(w.numel());
  std::copy(w.data_ptr<double>(), w.data_ptr<double>() + w.numel(), values.begin());
  const double lo = std::isnan(t.lo) ? std::min(0.0, *std::min_element(values.begin(), values.end())) : t.lo;
  const double hi = std::isnan(t.hi) ? *std::max_element(values.begin(), values.end()) : t.hi;
  bars_->showBars({values}, {t.label}, v.sortBars, v.topK, lo, hi,
                  t.label + tr(", batch %1: click a channel").arg(b));
  bars_->setHighlight(v.channel);
  showChannelMaps(v.channel);
}

void ChannelBarsView::showChannelMaps(int channel) {
  const RunResult* res = document_->result();
  const at::Tensor before = document_->resultInput(0);
  if (!res || channel < 0 || !before.defined() || res->outputs.empty() ||
      channel >= before.size(1) || res->outputs[0].dim() != 4 || channel >= res->outputs[0].size(1)) {
    before_->clear(tr("Click a channel\nto see its map\nbefore the module"));
    after_->clear(tr("... and after it"));
    return;
  }
  const ViewSettings& v = document_->view();
  const int64_t b = batchOf(before);
  const QImage base = document_->baseImage(0);
  pair_->setAspect(base.isNull() ? static_cast<double>(before.size(3)) / before.size(2)
                                 : static_cast<double>(base.width()) / base.height());
  const at::Tensor in = before[b][channel];
  const at::Tensor out = res->outputs[0][b][channel];
  // One raw-unit scale for both, so "before" and "after" compare fairly.
  SelectedTensor both{at::stack({in, out}), ProbeKind::FeatureMap, std::nan(""), std::nan(""), {}};
  HeatmapStyle style = styleFor(both.value, both, v, false);
  style.title = tr("input channel %1 (before)").arg(channel);
  before_->showMap(in, base, style);
  style.title = tr("output channel %1 (after)").arg(channel);
  after_->showMap(out, base, style);
}

}  // namespace fl::ui
