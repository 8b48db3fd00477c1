#include "ui/views/probe_view.h"

#include <ATen/ATen.h>

#include <QLabel>
#include <QStackedWidget>
#include <QVBoxLayout>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/io/tensor_io.h"
#include "core/modules/probe_kind.h"
#include "ui/document.h"
#include "ui/timing.h"
#include "ui/views/attention_view.h"
#include "ui/views/channel_bars_view.h"
#include "ui/views/map_view.h"
#include "ui/views/matrix_view.h"
#include "ui/views/scale_view.h"

namespace fl::ui {

namespace {

/// The kind -> view table: each view, the page it is, and the probe kinds it shows.
struct ViewEntry {
  ViewPage page;
  std::vector<ProbeKind> kinds;
  std::function<KindView*(Document*)> make;
};

template <class View>
KindView* makeView(Document* d) {
  return new View(d);
}

const std::vector<ViewEntry>& viewTable() {
  static const std::vector<ViewEntry> table = {
      {ViewPage::Heatmap, {ProbeKind::SpatialMap, ProbeKind::Gate, ProbeKind::FeatureMap}, makeView<MapView>},
      {ViewPage::Bars, {ProbeKind::ChannelWeights}, makeView<ChannelBarsView>},
      {ViewPage::ScaleWeights, {ProbeKind::ScaleWeights}, makeView<ScaleView>},
      {ViewPage::Attention, {ProbeKind::AttentionMatrix}, makeView<AttentionView>},
      {ViewPage::Matrix, {ProbeKind::ChannelMatrix}, makeView<MatrixView>},
  };
  return table;
}

}  // namespace

ViewPage pageForKind(ProbeKind kind) {
  for (const ViewEntry& e : viewTable()) {
    for (ProbeKind k : e.kinds) {
      if (k == kind) return e.page;
    }
  }
  return ViewPage::Empty;
}

ProbeView::ProbeView(Document* document, QWidget* parent) : QWidget(parent), document_(document) {
  stack_ = new QStackedWidget(this);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(stack_);
  for (const ViewEntry& e : viewTable()) {
    KindView* view = e.make(document_);
    connect(view, &KindView::hovered, this, &ProbeView::hovered);
    stack_->addWidget(view);
    views_[e.page] = view;
  }
  empty_ = new QLabel(tr("Run a module to see its probes."));
  empty_->setAlignment(Qt::AlignCenter);
  stack_->addWidget(empty_);

  connect(document_, &Document::queryRowsChanged, this, &ProbeView::refresh);
  connect(document_, &Document::viewChanged, this, &ProbeView::refresh);
  setPage(ViewPage::Empty);
}

template <class View>
View* ProbeView::viewOf(ViewPage page) const {
  return static_cast<View*>(views_.at(page));
}

HeatmapPanel* ProbeView::heatmap() const { return viewOf<MapView>(ViewPage::Heatmap)->heatmap(); }
void ProbeView::waitForRender() {
  for (auto& [page, view] : views_) view->waitForRender();
}
MapView* ProbeView::mapView() const { return viewOf<MapView>(ViewPage::Heatmap); }
BarPanel* ProbeView::channelStrip() const { return viewOf<MapView>(ViewPage::Heatmap)->channelStrip(); }
BarPanel* ProbeView::bars() const { return viewOf<ChannelBarsView>(ViewPage::Bars)->bars(); }
HeatmapPanel* ProbeView::beforeMap() const { return viewOf<ChannelBarsView>(ViewPage::Bars)->beforeMap(); }
HeatmapPanel* ProbeView::afterMap() const { return viewOf<ChannelBarsView>(ViewPage::Bars)->afterMap(); }
BarPanel* ProbeView::scaleBars() const { return viewOf<ScaleView>(ViewPage::ScaleWeights)->bars(); }
HeatmapPanel* ProbeView::scaleMatrix() const { return viewOf<ScaleView>(ViewPage::ScaleWeights)->matrix(); }
HeatmapPanel* ProbeView::queryMap() const { return viewOf<AttentionView>(ViewPage::Attention)->queryMap(); }
HeatmapPanel* ProbeView::keyMap() const { return viewOf<AttentionView>(ViewPage::Attention)->keyMap(); }
HeatmapPanel* ProbeView::matrix() const { return viewOf<AttentionView>(ViewPage::Attention)->matrix(); }
HeatmapPanel* ProbeView::channelMatrix() const { return viewOf<MatrixView>(ViewPage::Matrix)->matrix(); }

void ProbeView::setPage(ViewPage page) {
  page_ = page;
  const auto it = views_.find(page);
  stack_->setCurrentWidget(it == views_.end() ? static_cast<QWidget*>(empty_) : it->second);
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
    const QString shown = document_->view().tensor;
    empty_->setText(document_->notComputed().contains(shown)
                        ? tr("%1 is computed only when shown; the module is running again for it.").arg(shown)
                        : tr("Run a module to see its probes."));
    setPage(ViewPage::Empty);
    return;
  }
  // The page first: the views arrange their panels by the room they have when shown.
  const ViewPage page = pageForKind(t.kind);
  setPage(page);
  if (page == ViewPage::Empty) return;
  // A tensor whose layout the view did not expect (a network's point, classified by shape)
  // must not end the application: say so in place of the view.
  try {
    timingMark("view refresh starts (GUI thread)");
    views_.at(page)->showTensor(t);
    if (timingEnabled()) timingMark(("view refresh ends (GUI thread): " + std::to_string(static_cast<int>(page))).c_str());
  } catch (const std::exception& e) {
    empty_->setText(tr("%1 (shape %2) cannot be shown as %3: %4")
                        .arg(t.label, QString::fromStdString(shapeText(t.value.sizes())),
                             QString::fromUtf8(probeKindName(t.kind)), QString::fromStdString(firstLine(e.what()))));
    setPage(ViewPage::Empty);
  }
}

}  // namespace fl::ui
