#include "ui/views/map_view.h"

#include <ATen/ATen.h>

#include <QCoreApplication>
#include <QSplitter>
#include <QThreadPool>
#include <QVBoxLayout>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "core/render/reductions.h"
#include "ui/document.h"
#include "ui/qcp.h"
#include "ui/timing.h"
#include "ui/views/bar_panel.h"

namespace fl::ui {

MapFrame renderMapFrame(const MapRenderRequest& req) {
  MapFrame f;
  f.thread = std::this_thread::get_id();
  const SelectedTensor& t = req.tensor;
  const ViewSettings& v = req.view;
  const int64_t b = req.batch;
  try {
    if (t.kind == ProbeKind::FeatureMap && v.pca && t.value.size(1) >= 3) {
      // One RGB cell per feature cell: the axes count feature cells, not image pixels.
      f.pca = true;
      f.rgb = matToImage(render::pcaRgb(t.value[b]));
      f.title = t.label + QCoreApplication::translate("fl::ui::MapView", " (PCA to RGB)");
      return f;
    }
    at::Tensor map;
    QString what;
    if (t.kind == ProbeKind::SpatialMap || t.value.size(1) == 1) {
      map = t.value[b][0];
    } else if (v.channel >= 0 && v.channel < t.value.size(1)) {
      map = t.value[b][v.channel];
      what = QCoreApplication::translate("fl::ui::MapView", ", channel %1").arg(v.channel);
    } else {
      map = render::gateMeanMap(t.value, b);
      what = QCoreApplication::translate("fl::ui::MapView", ", mean over %1 channels").arg(t.value.size(1));
    }
    const bool complement = v.complement && t.kind == ProbeKind::Gate;
    if (complement) map = 1 - map;
    HeatmapStyle style = styleFor(map, t, v, complement);
    style.title = t.label +
                  (complement ? QCoreApplication::translate("fl::ui::MapView", " complement (1 - w)") : QString()) +
                  what + QCoreApplication::translate("fl::ui::MapView", ", batch %1").arg(b);
    f.heatmap = renderHeatmapFrame(map, req.base.size(), style);
    f.complement = complement;
    f.channelWise = (t.kind == ProbeKind::Gate || t.kind == ProbeKind::FeatureMap) && t.value.size(1) > 1;
    if (f.channelWise) {
      at::Tensor means = t.value[b].to(at::kDouble).mean({1, 2});  // [C]
      if (complement) means = 1 - means;
      means = means.contiguous();
      f.means = QVector<double>(means.data_ptr<double>(), means.data_ptr<double>() + means.numel());
      const auto [mn, mx] = std::minmax_element(f.means.begin(), f.means.end());
      const bool bounded = !std::isnan(t.lo) && !std::isnan(t.hi);
      f.meanLo = bounded ? t.lo : std::min(0.0, *mn);
      f.meanHi = bounded ? t.hi : *mx;
    }
  } catch (const std::exception& e) {
    f.error = QCoreApplication::translate("fl::ui::MapView", "%1 cannot be shown as a map: %2")
                  .arg(t.label, QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
  }
  return f;
}

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
  pool_ = new QThreadPool(this);
  pool_->setMaxThreadCount(1);

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

MapView::~MapView() {
  pending_.reset();
  pool_->clear();
  pool_->waitForDone();  // the task posts to this view; it must not outlive it
}

void MapView::showTensor(const SelectedTensor& t) {
  // Layouts the view cannot show are refused here, on the GUI thread, so ProbeView says why.
  if (t.value.dim() != 4) {
    throw std::invalid_argument("a map view needs a [B, C, H, W] tensor");
  }
  MapRenderRequest req;
  req.tensor = t;
  req.view = document_->view();
  req.batch = batchOf(t.value);
  req.base = document_->baseImage(0);
  pending_ = std::move(req);
  ++serial_;
  if (!inFlight_) startRender();
}

void MapView::startRender() {
  if (!pending_) return;
  inFlight_ = true;
  auto req = std::make_shared<MapRenderRequest>(std::move(*pending_));
  pending_.reset();
  const uint64_t serial = serial_;
  timingMark("map render queued");
  pool_->start([this, req, serial] {
    const auto t0 = std::chrono::steady_clock::now();
    auto frame = std::make_shared<MapFrame>(renderMapFrame(*req));
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    timingMark("map render done (render thread)");
    // Posted to this view: dropped by Qt if the view is gone (it waits for this task first).
    QMetaObject::invokeMethod(
        this,
        [this, req, frame, serial, ms] {
          inFlight_ = false;
          // A newer request supersedes this frame: render that instead of showing this one.
          if (serial == serial_) {
            showFrame(std::move(*frame), req->base, ms);
          } else {
            startRender();
          }
        },
        Qt::QueuedConnection);
  });
}

void MapView::waitForRender() {
  while (rendering()) {
    if (!inFlight_) startRender();
    pool_->waitForDone();
    QCoreApplication::sendPostedEvents(this, QEvent::MetaCall);
  }
}

void MapView::showFrame(MapFrame f, const QImage& base, double renderMs) {
  lastThread_ = f.thread;
  if (!f.error.isEmpty()) {
    heatmap_->clear(f.error);
    channelStrip_->hide();
  } else if (f.pca) {
    heatmap_->showRgb(f.rgb, f.title, tr("x (feature cells)"), tr("y (feature cells)"));
    channelStrip_->hide();
  } else {
    heatmap_->showFrame(std::move(f.heatmap), base);
    showChannelStrip(f);
  }
  timingMark("map frame shown (GUI thread)");
  Q_EMIT frameShown(renderMs);
}

void MapView::showChannelStrip(const MapFrame& f) {
  channelStrip_->setVisible(f.channelWise);
  if (!f.channelWise) return;
  const ViewSettings& v = document_->view();
  channelStrip_->showBars({f.means}, {tr("mean")}, false, 0, f.meanLo, f.meanHi,
                          tr("each channel's mean over H x W: click one to show it%1")
                              .arg(v.channel >= 0 ? tr(" (channel %1 shown; click it again for the mean)").arg(v.channel)
                                                  : QString()));
  channelStrip_->plot()->yAxis->setLabel(f.complement ? tr("mean 1 - w") : tr("mean"));
  channelStrip_->plot()->yAxis->ticker()->setTickCount(3);  // a short strip: few labels
  channelStrip_->setHighlight(v.channel);
}

}  // namespace fl::ui
