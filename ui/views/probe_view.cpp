#include "ui/views/probe_view.h"

#include <ATen/ATen.h>

#include <QEvent>
#include <QLabel>
#include <QRegularExpression>
#include <QSplitter>
#include <QStackedWidget>
#include <QVBoxLayout>
#include <cmath>

#include "core/render/normalise.h"
#include "core/render/reductions.h"
#include "ui/document.h"
#include "ui/views/bar_panel.h"
#include "ui/views/heatmap_panel.h"

namespace fl::ui {

ViewPage pageForKind(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::SpatialMap:
    case ProbeKind::Gate:
    case ProbeKind::FeatureMap: return ViewPage::Heatmap;
    case ProbeKind::ChannelWeights: return ViewPage::Bars;
    case ProbeKind::ScaleWeights: return ViewPage::ScaleWeights;
    case ProbeKind::AttentionMatrix: return ViewPage::Attention;
    case ProbeKind::ChannelMatrix: return ViewPage::Matrix;
  }
  return ViewPage::Empty;
}

namespace {

QImage matToImage(const cv::Mat& rgb) {
  QImage img(rgb.data, rgb.cols, rgb.rows, static_cast<int>(rgb.step), QImage::Format_RGB888);
  return img.copy();
}

/// Colour range of a map under the view's normalisation, written on the colorbar.
HeatmapStyle styleFor(const at::Tensor& map, const SelectedTensor& t, const ViewSettings& v,
                      bool complement) {
  render::NormSpec spec;
  spec.mode = render::parseNormMode(v.normalisation.toStdString());
  spec.pLo = v.percentileLo;
  spec.pHi = v.percentileHi;
  double lo = t.lo, hi = t.hi;
  if (complement && !std::isnan(lo)) std::tie(lo, hi) = std::make_pair(1 - hi, 1 - lo);
  const render::Range r = render::computeRange(map, spec, lo, hi);
  HeatmapStyle s;
  s.colormap = v.colormap;
  s.lo = r.lo;
  s.hi = r.hi;
  // The colorbar states mode and range; the description's notes (fallbacks, NaN counts)
  // are too long for its axis label and are left off there.
  const QString full = QString::fromStdString(r.description);
  const int cut = full.indexOf(QRegularExpression(QStringLiteral(" \\(|;")));
  s.rangeLabel = cut > 0 ? full.left(cut) : full;
  s.alpha = v.alpha;
  s.title = t.label;
  return s;
}

}  // namespace

ProbeView::ProbeView(Document* document, QWidget* parent) : QWidget(parent), document_(document) {
  stack_ = new QStackedWidget(this);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(stack_);

  auto* heatmapPage = new QSplitter(Qt::Vertical);
  heatmap_ = new HeatmapPanel;
  channelStrip_ = new BarPanel;
  channelStrip_->setMinimumHeight(120);
  heatmapPage->addWidget(heatmap_);
  heatmapPage->addWidget(channelStrip_);
  heatmapPage->setStretchFactor(0, 5);
  heatmapPage->setStretchFactor(1, 1);
  heatmapPage->setChildrenCollapsible(false);
  stack_->addWidget(heatmapPage);

  auto* barsPage = new QSplitter(Qt::Vertical);
  bars_ = new BarPanel;
  mapsPair_ = new QSplitter(Qt::Horizontal);
  before_ = new HeatmapPanel;
  after_ = new HeatmapPanel;
  mapsPair_->addWidget(before_);
  mapsPair_->addWidget(after_);
  barsPage->addWidget(bars_);
  barsPage->addWidget(mapsPair_);
  stack_->addWidget(barsPage);

  auto* scalePage = new QSplitter(Qt::Vertical);
  scaleBars_ = new BarPanel;
  scaleMatrix_ = new HeatmapPanel;
  scalePage->addWidget(scaleBars_);
  scalePage->addWidget(scaleMatrix_);
  stack_->addWidget(scalePage);

  auto* attnPage = new QWidget;
  auto* attnLayout = new QVBoxLayout(attnPage);
  attnLayout->setContentsMargins(0, 0, 0, 0);
  attentionNote_ = new QLabel;
  attentionNote_->setWordWrap(true);
  auto* attnSplit = new QSplitter(Qt::Vertical);
  queryPair_ = new QSplitter(Qt::Horizontal);
  query_ = new HeatmapPanel;
  key_ = new HeatmapPanel;
  queryPair_->addWidget(query_);
  queryPair_->addWidget(key_);
  matrix_ = new HeatmapPanel;
  attnSplit->addWidget(queryPair_);
  attnSplit->addWidget(matrix_);
  attnSplit->setStretchFactor(0, 3);
  attnSplit->setStretchFactor(1, 2);
  attnLayout->addWidget(attentionNote_);
  attnLayout->addWidget(attnSplit);
  stack_->addWidget(attnPage);

  empty_ = new QLabel(tr("Run a module to see its probes."));
  empty_->setAlignment(Qt::AlignCenter);
  stack_->addWidget(empty_);

  for (HeatmapPanel* p : {heatmap_, before_, after_, scaleMatrix_, query_, key_, matrix_}) {
    connect(p, &HeatmapPanel::hovered, this, &ProbeView::hovered);
  }
  for (BarPanel* b : {bars_, scaleBars_, channelStrip_}) connect(b, &BarPanel::hovered, this, &ProbeView::hovered);
  connect(bars_, &BarPanel::channelClicked, this, [this](int c) {
    ViewSettings v = document_->view();
    v.channel = c;
    document_->setView(v);
  });
  connect(channelStrip_, &BarPanel::channelClicked, this, [this](int c) {
    ViewSettings v = document_->view();
    v.channel = v.channel == c ? -1 : c;  // clicking the shown channel again: back to the mean
    document_->setView(v);
  });
  connect(query_, &HeatmapPanel::cellClicked, this, [this](int col, int row) {
    ViewSettings v = document_->view();
    // Clicking the same pixel again retries rows that failed or were cancelled.
    if (v.queryX == col && v.queryY == row && document_->isOnDemandProbe(v.tensor)) {
      document_->requestQueryRows(col, row, true);
    }
    v.queryX = col;
    v.queryY = row;
    document_->setView(v);
  });
  connect(document_, &Document::queryRowsChanged, this, &ProbeView::refresh);
  connect(heatmap_, &HeatmapPanel::cellClicked, this, [this](int col, int row) {
    Q_EMIT hovered(tr("selected cell (%1, %2)").arg(col).arg(row));
  });
  connect(document_, &Document::viewChanged, this, &ProbeView::refresh);
  mapsPair_->installEventFilter(this);
  queryPair_->installEventFilter(this);
  setPage(ViewPage::Empty);
}

void ProbeView::arrangePair(QSplitter* pair, double aspect) {
  if (pair->width() <= 0 || pair->height() <= 0 || !(aspect > 0)) return;
  // Scale at which two pictures of this aspect fit: two columns or two rows (the axes and
  // colorbar take about 150 pixels across and 60 down in each panel).
  const double w = pair->width(), h = pair->height();
  const double sideBySide = std::min((w / 2 - 150) / aspect, h - 60);
  const double stacked = std::min((w - 150) / aspect, h / 2 - 60);
  const Qt::Orientation want = stacked > sideBySide * 1.15 ? Qt::Vertical : Qt::Horizontal;
  if (pair->orientation() != want) {
    pair->setOrientation(want);
    pair->setSizes({1, 1});
  }
}

bool ProbeView::eventFilter(QObject* watched, QEvent* event) {
  // A pair's room changes with the window, the docks and the matrix below it.
  if (event->type() == QEvent::Resize) {
    if (watched == mapsPair_) arrangePair(mapsPair_, mapsAspect_);
    if (watched == queryPair_) arrangePair(queryPair_, queryAspect_);
  }
  return QWidget::eventFilter(watched, event);
}

void ProbeView::setPage(ViewPage page) {
  page_ = page;
  const int index[] = {0, 1, 2, 3, 0, 4};  // Matrix reuses the heatmap page
  stack_->setCurrentIndex(index[static_cast<int>(page)]);
}

bool ProbeView::selected(SelectedTensor* out) const {
  const RunResult* res = document_->result();
  if (!res) return false;
  const QString name = document_->view().tensor;
  const double nan = std::nan("");
  if (name.startsWith(QStringLiteral("probe."))) {
    const ProbeResult* p = res->findProbe(name.mid(6).toStdString());
    if (!p && document_->isOnDemandProbe(name)) {
      const ModuleDescriptor* d = document_->registry().find(res->moduleId);
      for (const ProbeSpec& spec : d->probes) {
        if (QStringLiteral("probe.") + QString::fromStdString(spec.name) == name) {
          *out = {at::Tensor(), spec.kind, spec.lo, spec.hi, name, true};
          return true;
        }
      }
    }
    if (!p) return false;
    *out = {p->value, p->kind, p->lo, p->hi, name};
    return true;
  }
  for (size_t i = 0; i < res->outputNames.size(); ++i) {
    if (name == QString::fromStdString(res->outputNames[i])) {
      *out = {res->outputs[i], ProbeKind::FeatureMap, nan, nan, name};
      return out->value.dim() == 4;
    }
  }
  const ModuleDescriptor* d = document_->registry().find(res->moduleId);
  if (d && name.startsWith(QStringLiteral("input."))) {
    for (size_t i = 0; i < d->inputs.size(); ++i) {
      if (name.mid(6) == QString::fromStdString(d->inputs[i].name)) {
        const at::Tensor t = document_->resultInput(static_cast<int>(i));
        if (!t.defined()) return false;
        *out = {t, ProbeKind::FeatureMap, nan, nan, name};
        return true;
      }
    }
  }
  return false;
}

void ProbeView::refresh() {
  SelectedTensor t;
  if (!selected(&t)) {
    setPage(ViewPage::Empty);
    return;
  }
  switch (pageForKind(t.kind)) {
    case ViewPage::Heatmap: showHeatmapPage(t); break;
    case ViewPage::Bars: showBarsPage(t); break;
    case ViewPage::ScaleWeights: showScalePage(t); break;
    case ViewPage::Attention: t.onDemand ? showAttentionOnDemand(t) : showAttentionPage(t); break;
    case ViewPage::Matrix: showMatrixPage(t); break;
    case ViewPage::Empty: setPage(ViewPage::Empty); break;
  }
}

void ProbeView::showHeatmapPage(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const int64_t b = std::clamp<int64_t>(v.batch, 0, t.value.size(0) - 1);
  const QImage base = document_->baseImage(0);
  setPage(ViewPage::Heatmap);
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

void ProbeView::showChannelStrip(const SelectedTensor& t, int64_t b, bool complement) {
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

void ProbeView::showBarsPage(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const int64_t b = std::clamp<int64_t>(v.batch, 0, t.value.size(0) - 1);
  const at::Tensor w = t.value[b].to(at::kDouble).contiguous();
  QVector<double> values(w.numel());
  std::copy(w.data_ptr<double>(), w.data_ptr<double>() + w.numel(), values.begin());
  const double lo = std::isnan(t.lo) ? std::min(0.0, *std::min_element(values.begin(), values.end())) : t.lo;
  const double hi = std::isnan(t.hi) ? *std::max_element(values.begin(), values.end()) : t.hi;
  setPage(ViewPage::Bars);
  bars_->showBars({values}, {t.label}, v.sortBars, v.topK, lo, hi,
                  t.label + tr(", batch %1: click a channel").arg(b));
  bars_->setHighlight(v.channel);
  showChannelMaps(v.channel);
}

void ProbeView::showChannelMaps(int channel) {
  const RunResult* res = document_->result();
  const at::Tensor before = document_->resultInput(0);
  if (!res || channel < 0 || !before.defined() || res->outputs.empty() ||
      channel >= before.size(1) || res->outputs[0].dim() != 4 || channel >= res->outputs[0].size(1)) {
    before_->clear(tr("Click a channel\nto see its map\nbefore the module"));
    after_->clear(tr("... and after it"));
    return;
  }
  const ViewSettings& v = document_->view();
  const int64_t b = std::clamp<int64_t>(v.batch, 0, before.size(0) - 1);
  const QImage base = document_->baseImage(0);
  mapsAspect_ = base.isNull() ? static_cast<double>(before.size(3)) / before.size(2)
                              : static_cast<double>(base.width()) / base.height();
  arrangePair(mapsPair_, mapsAspect_);
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

void ProbeView::showScalePage(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const int64_t b = std::clamp<int64_t>(v.batch, 0, t.value.size(0) - 1);
  const at::Tensor w = t.value[b].to(at::kDouble).contiguous();  // [C,S]
  const int64_t c = w.size(0), s = w.size(1);
  QVector<QVector<double>> series(s, QVector<double>(c));
  QStringList names;
  for (int64_t j = 0; j < s; ++j) {
    names << tr("scale %1").arg(j);
    for (int64_t i = 0; i < c; ++i) series[j][i] = w[i][j].item<double>();
  }
  setPage(ViewPage::ScaleWeights);
  scaleBars_->showBars(series, names, v.sortBars, v.topK, 0.0, std::isnan(t.hi) ? w.max().item<double>() : t.hi,
                       t.label + tr(", batch %1 (uniform = %2)").arg(b).arg(1.0 / s, 0, 'g', 3));
  HeatmapStyle style = styleFor(w.t(), t, v, false);
  style.title = tr("scale (rows) x channel (columns)");
  style.keepAspect = false;
  style.xLabel = tr("channel");
  style.yLabel = tr("scale");
  style.rowNames = names;  // "scale 0".."scale 3" on the rows, not the edges 0..4
  scaleMatrix_->showMap(w.t(), QImage(), style);
}

void ProbeView::showAttentionPage(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  setPage(ViewPage::Attention);
  const at::Tensor x = document_->resultInput(0);
  const int64_t b = std::clamp<int64_t>(v.batch, 0, t.value.size(0) - 1);
  const int64_t heads = t.value.size(1), nq = t.value.size(2), nk = t.value.size(3);
  const int64_t qh = x.defined() ? x.size(2) : 1, qw = x.defined() ? x.size(3) : nq;
  if (qh * qw != nq) {
    attentionNote_->setText(tr("The attention's %1 queries do not match the input grid.").arg(nq));
    return;
  }
  const auto [kh, kw] = render::attentionKeyGrid(nk, qh, qw);
  const QImage queryImage = document_->baseImage(0);
  queryAspect_ = queryImage.isNull() ? static_cast<double>(qw) / qh : static_cast<double>(queryImage.width()) / queryImage.height();
  arrangePair(queryPair_, queryAspect_);
  const int head = v.head >= 0 && v.head < heads ? v.head : -1;
  const at::Tensor a = head >= 0 ? t.value[b][head] : t.value[b].mean(0);  // [Nq,Nk]
  // Query panel: how peaked each query's attention is (its largest weight).
  const at::Tensor peak = std::get<0>(a.max(1)).reshape({qh, qw});
  HeatmapStyle qs = styleFor(peak, {peak, ProbeKind::SpatialMap, std::nan(""), std::nan(""), {}}, v, false);
  qs.title = tr("queries: peak weight; click a pixel");
  query_->showMap(peak, document_->baseImage(0), qs);
  const int qx = v.queryX >= 0 && v.queryX < qw ? v.queryX : static_cast<int>(qw / 2);
  const int qy = v.queryY >= 0 && v.queryY < qh ? v.queryY : static_cast<int>(qh / 2);
  query_->setMarker(qx, qy);
  const at::Tensor row = render::attentionRowMap(t.value, b, head, qy * qw + qx, kh, kw);
  showKeyRow(row, t, qx, qy, head, heads);
  attentionNote_->setText(tr("%1: %2 heads, %3 queries x %4 keys (%5x%6).").arg(t.label).arg(heads).arg(nq).arg(nk).arg(kw).arg(kh));
  matrix_->show();
  constexpr int64_t kMaxCells = 2'000'000;  // drawing more cells than this only blurs
  if (nq * nk <= kMaxCells) {
    HeatmapStyle ms = styleFor(a, t, v, false);
    ms.title = tr("attention matrix (rows: queries, columns: keys)");
    ms.keepAspect = false;
    ms.xLabel = tr("key (flat index)");
    ms.yLabel = tr("query (flat index)");
    matrix_->showMap(a, QImage(), ms);
    matrix_->setMarker(-1, -1);
  } else {
    matrix_->hide();  // the query view above is the way to read it
    attentionNote_->setText(attentionNote_->text() + tr(" The %1 x %2 matrix is too large to draw; click query pixels instead.").arg(nq).arg(nk));
  }
}

void ProbeView::showKeyRow(const at::Tensor& row, const SelectedTensor& t, int qx, int qy, int head,
                           int64_t heads) {
  // One softmax row over Nk keys sums to 1, so its values sit near 1/Nk: on the natural
  // [0, 1] scale the map would be blank. The row is scaled like an unbounded map instead.
  const SelectedTensor rowTensor{row, ProbeKind::SpatialMap, std::nan(""), std::nan(""), t.label};
  HeatmapStyle ks = styleFor(row, rowTensor, document_->view(), false);
  ks.title = tr("query (%1, %2): %3").arg(qx).arg(qy)
                 .arg(head >= 0 ? tr("head %1").arg(head) : tr("mean of %1 heads").arg(heads));
  // Cross-attention (cmgm) looks at the second input; self-attention at the first.
  const QImage keyImage = document_->baseImage(document_->descriptor() && document_->descriptor()->inputs.size() > 1 ? 1 : 0);
  key_->showMap(row, keyImage, ks);
}

void ProbeView::showAttentionOnDemand(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  setPage(ViewPage::Attention);
  const at::Tensor x = document_->resultInput(0);
  if (!x.defined() || x.dim() != 4) {
    attentionNote_->setText(tr("%1 was withheld and its input is gone; run the module again.").arg(t.label));
    return;
  }
  const int64_t qh = x.size(2), qw = x.size(3);
  const int qx = v.queryX >= 0 && v.queryX < qw ? v.queryX : static_cast<int>(qw / 2);
  const int qy = v.queryY >= 0 && v.queryY < qh ? v.queryY : static_cast<int>(qh / 2);
  const int64_t b = std::clamp<int64_t>(v.batch, 0, x.size(0) - 1);

  // Query panel: the picture of x (or its channel mean) divided into the query grid.
  const QImage base = document_->baseImage(0);
  queryAspect_ = base.isNull() ? static_cast<double>(qw) / qh : static_cast<double>(base.width()) / base.height();
  const QString queryTitle = tr("queries (%1 x %2): click a pixel").arg(qw).arg(qh);
  if (!base.isNull()) {
    query_->showImageGrid(base, static_cast<int>(qw), static_cast<int>(qh), queryTitle);
  } else {
    const at::Tensor mean = x[b].mean(0);
    HeatmapStyle qs = styleFor(mean, {mean, ProbeKind::FeatureMap, std::nan(""), std::nan(""), {}}, v, false);
    qs.title = tr("x, mean over %1 channels; click a query pixel").arg(x.size(1));
    query_->showMap(mean, QImage(), qs);
  }
  query_->setMarker(qx, qy);
  matrix_->hide();  // withheld: the query and key panels take its room
  arrangePair(queryPair_, queryAspect_);

  const QueryRows& rows = document_->queryRows();
  const bool haveRows = rows.requestId == document_->result()->requestId && rows.x == qx && rows.y == qy;
  const int64_t heads = haveRows && rows.rows.defined() ? rows.rows.size(1) : 0;
  const int head = v.head >= 0 && v.head < heads ? v.head : -1;
  if (haveRows && rows.rows.defined()) {
    const int64_t nk = rows.rows.size(2);
    const auto [kh, kw] = render::attentionKeyGrid(nk, qh, qw);
    const at::Tensor row = render::attentionRowMap(rows.rows.unsqueeze(2), b, head, 0, kh, kw);
    showKeyRow(row, t, qx, qy, head, heads);
    attentionNote_->setText(tr("%1, rows on demand: %2 heads, %3 queries x %4 keys (%5x%6). The full matrix is over "
                               "the memory budget, so the row of each query you click is computed for it.")
                                .arg(t.label).arg(heads).arg(qh * qw).arg(nk).arg(kw).arg(kh));
  } else if (haveRows) {
    key_->clear(rows.error);
    attentionNote_->setText(tr("%1 on demand: query (%2, %3): %4").arg(t.label).arg(qx).arg(qy).arg(rows.error));
  } else {
    // The previous row (if any) stays until the new one is ready.
    if (rows.requestId != document_->result()->requestId || !rows.rows.defined()) {
      key_->clear(tr("Computing the attention row of query (%1, %2) ...").arg(qx).arg(qy));
    }
    attentionNote_->setText(tr("%1 on demand: computing the attention row of query (%2, %3) on the worker ...")
                                .arg(t.label).arg(qx).arg(qy));
  }
  // Last: the request may answer at once (and refresh this view again).
  if (!haveRows) document_->requestQueryRows(qx, qy);
}

void ProbeView::showMatrixPage(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const int64_t b = std::clamp<int64_t>(v.batch, 0, t.value.size(0) - 1);
  const at::Tensor m = t.value[b];
  setPage(ViewPage::Matrix);
  channelStrip_->hide();
  HeatmapStyle style = styleFor(m, t, v, false);
  style.title = t.label + tr(" (rows x columns), batch %1").arg(b);
  style.keepAspect = m.size(0) == m.size(1);  // a square channel matrix stays square
  style.xLabel = tr("channel (column)");
  style.yLabel = tr("channel (row)");
  heatmap_->showMap(m, QImage(), style);
}

}  // namespace fl::ui
