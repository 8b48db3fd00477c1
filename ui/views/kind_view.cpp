#include "ui/views/kind_view.h"

#include <ATen/ATen.h>

#include <QEvent>
#include <QRegularExpression>
#include <QSplitter>
#include <algorithm>
#include <cmath>

#include "core/render/normalise.h"
#include "ui/document.h"

namespace fl::ui {

void KindView::forwardHover(HeatmapPanel* panel) { connect(panel, &HeatmapPanel::hovered, this, &KindView::hovered); }

int64_t KindView::batchOf(const at::Tensor& t) const {
  return std::clamp<int64_t>(document_->view().batch, 0, t.size(0) - 1);
}

HeatmapStyle styleFor(const at::Tensor& map, const SelectedTensor& t, const ViewSettings& v, bool complement) {
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

QImage matToImage(const cv::Mat& rgb) {
  QImage img(rgb.data, rgb.cols, rgb.rows, static_cast<int>(rgb.step), QImage::Format_RGB888);
  return img.copy();
}

PairArranger::PairArranger(QSplitter* pair) : QObject(pair), pair_(pair) { pair->installEventFilter(this); }

void PairArranger::setAspect(double aspect) {
  aspect_ = aspect;
  arrange();
}

bool PairArranger::eventFilter(QObject* watched, QEvent* event) {
  // A pair's room changes with the window, the docks and the matrix below it.
  if (watched == pair_ && event->type() == QEvent::Resize) arrange();
  return QObject::eventFilter(watched, event);
}

void PairArranger::arrange() {
  if (pair_->width() <= 0 || pair_->height() <= 0 || !(aspect_ > 0)) return;
  // Scale at which two pictures of this aspect fit: two columns or two rows (the axes and
  // colorbar take about 150 pixels across and 60 down in each panel).
  const double w = pair_->width(), h = pair_->height();
  const double sideBySide = std::min((w / 2 - 150) / aspect_, h - 60);
  const double stacked = std::min((w - 150) / aspect_, h / 2 - 60);
  const Qt::Orientation want = stacked > sideBySide * 1.15 ? Qt::Vertical : Qt::Horizontal;
  if (pair_->orientation() != want) {
    pair_->setOrientation(want);
    pair_->setSizes({1, 1});
  }
}

}  // namespace fl::ui
