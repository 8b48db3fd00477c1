#include "ui/views/heatmap_panel.h"

#include <ATen/ATen.h>

#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include "ui/qcp.h"

#include "core/render/colormap.h"
#include "core/render/normalise.h"
#include "core/render/render.h"

namespace fl::ui {

namespace {

/// Ticks only along the picture: with square pixels an axis may span more than the picture,
/// and labels like "-500" on the empty margin would only distract.
class PictureTicker : public QCPAxisTicker {
 public:
  double lo = 0, hi = 1;  ///< the picture's extent along this axis
 protected:
  // The step suits the picture's part of the axis, not the whole (mostly empty) range, and
  // that part gets its share of the axis's ticks: a picture on a fifth of a wide axis (a
  // short panel) gets one or two labels, not five crowded into it.
  double getTickStep(const QCPRange& range) override {
    const QCPRange shown(std::max(range.lower, lo), std::min(range.upper, hi));
    if (!(shown.upper > shown.lower) || !(range.size() > 0)) return QCPAxisTicker::getTickStep(range);
    const double share = shown.size() / range.size();
    const double ticks = std::max(1.0, std::round(tickCount() * share));
    return cleanMantissa(shown.size() / ticks);
  }
  QVector<double> createTickVector(double tickStep, const QCPRange& range) override {
    QVector<double> ticks = QCPAxisTicker::createTickVector(tickStep, range);
    const double eps = 1e-9 * std::max(1.0, hi - lo);
    ticks.erase(std::remove_if(ticks.begin(), ticks.end(), [&](double t) { return t < lo - eps || t > hi + eps; }),
                ticks.end());
    return ticks;
  }
};

}  // namespace

/// A QCPColorMap that draws colours made beforehand (renderHeatmapFrame, off the GUI thread)
/// instead of colouring its cells in every replot after a change; the cells stay for the
/// hover read-out. Nearest-neighbour scaling: one value, one colour per cell.
class HeatmapPanel::PrerenderedMap : public QCPColorMap {
 public:
  using QCPColorMap::QCPColorMap;
  void setColours(QImage colours, const QRectF& extent) {
    colours_ = std::move(colours);
    extent_ = extent;
  }

 protected:
  void draw(QCPPainter* painter) override {
    if (colours_.isNull()) {
      QCPColorMap::draw(painter);
      return;
    }
    if (!mKeyAxis || !mValueAxis) return;
    const QPointF a = coordsToPixels(extent_.left(), extent_.top());
    const QPointF b = coordsToPixels(extent_.right(), extent_.bottom());
    const bool mirrorX = a.x() > b.x(), mirrorY = a.y() > b.y();
    const QRectF target = QRectF(a, b).normalized();
    const bool smooth = painter->renderHints().testFlag(QPainter::SmoothPixmapTransform);
    painter->setRenderHint(QPainter::SmoothPixmapTransform, false);
    if (mirrorX || mirrorY) {
      painter->drawImage(target, colours_.mirrored(mirrorX, mirrorY));
    } else {
      painter->drawImage(target, colours_);
    }
    painter->setRenderHint(QPainter::SmoothPixmapTransform, smooth);
  }

 private:
  QImage colours_;
  QRectF extent_;
};

HeatmapFrame renderHeatmapFrame(const at::Tensor& mapIn, QSize base, const HeatmapStyle& style) {
  const at::Tensor m = mapIn.detach().to(at::kCPU, at::kDouble).contiguous();
  if (m.dim() != 2) throw std::invalid_argument("a heatmap needs a 2-D map [H, W]");
  HeatmapFrame f;
  f.rows = static_cast<int>(m.size(0));
  f.cols = static_cast<int>(m.size(1));
  if (f.rows <= 0 || f.cols <= 0) throw std::invalid_argument("a heatmap needs a non-empty map");
  const bool hasBase = !base.isEmpty();
  f.width = hasBase ? base.width() : f.cols;
  f.height = hasBase ? base.height() : f.rows;
  f.style = style;
  // The panel's own range rule (hi > lo), kept finite and wide enough for normalise().
  double lo = std::isfinite(style.lo) ? style.lo : 0.0;
  double hi = std::isfinite(style.hi) ? style.hi : lo + 1.0;
  if (!(hi > lo)) hi = lo + std::max(1e-12, 1e-9 * std::fabs(lo));
  f.values = m;

  // Colours by core/render (the CLI's colours), the overlay alpha premultiplied in.
  render::Range range;
  range.lo = lo;
  range.hi = hi;
  const cv::Mat rgb = render::applyColormap(render::normalise(m, range), render::parseColormap(style.colormap.toStdString()));
  const int a = static_cast<int>(std::lround(std::clamp(hasBase ? style.alpha : 1.0, 0.0, 1.0) * 255));
  f.colours = QImage(f.cols, f.rows, QImage::Format_ARGB32_Premultiplied);
  for (int r = 0; r < f.rows; ++r) {
    const uchar* src = rgb.ptr<uchar>(r);
    auto* dst = reinterpret_cast<QRgb*>(f.colours.scanLine(r));
    for (int c = 0; c < f.cols; ++c) {
      dst[c] = qRgba(src[3 * c] * a / 255, src[3 * c + 1] * a / 255, src[3 * c + 2] * a / 255, a);
    }
  }
  return f;
}

QCPColorGradient makeGradient(const QString& colormap, double alpha) {
  const render::Colormap cm = render::parseColormap(colormap.toStdString());
  QCPColorGradient g;
  g.clearColorStops();
  const int a = static_cast<int>(std::lround(std::clamp(alpha, 0.0, 1.0) * 255));
  for (int i = 0; i < 256; ++i) {
    const double t = i / 255.0;
    const auto rgb = render::colormapColor(cm, t);
    g.setColorStopAt(t, QColor(rgb[0], rgb[1], rgb[2], a));
  }
  g.setColorInterpolation(QCPColorGradient::ciRGB);
  g.setLevelCount(256);
  return g;
}

HeatmapPanel::HeatmapPanel(QWidget* parent) : QWidget(parent) {
  plot_ = new QCustomPlot(this);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(plot_);

  plot_->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  plot_->yAxis->setRangeReversed(true);  // image rows grow downwards
  plot_->axisRect()->setupFullAxesBox(true);
  plot_->xAxis->setLabel(tr("x (pixels)"));
  plot_->yAxis->setLabel(tr("y (pixels)"));
  xTicker_ = QSharedPointer<PictureTicker>::create();
  yTicker_ = QSharedPointer<PictureTicker>::create();
  plot_->xAxis->setTicker(xTicker_);
  plot_->yAxis->setTicker(yTicker_);
  plot_->xAxis2->setTicker(xTicker_);  // the box's other sides tick where the picture is too
  plot_->yAxis2->setTicker(yTicker_);

  background_ = new QCPItemPixmap(plot_);
  background_->setScaled(true, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
  background_->setLayer(QStringLiteral("background"));
  background_->setClipToAxisRect(true);

  map_ = new PrerenderedMap(plot_->xAxis, plot_->yAxis);
  map_->setInterpolate(false);  // cells stay honest: one value, one colour
  scale_ = new QCPColorScale(plot_);
  plot_->plotLayout()->addElement(0, 1, scale_);
  scale_->setType(QCPAxis::atRight);
  // The map is deliberately not linked to the scale: the map's gradient carries the overlay
  // alpha, the colorbar's stays opaque so it reads the same at any alpha.
  auto* margins = new QCPMarginGroup(plot_);
  plot_->axisRect()->setMarginGroup(QCP::msBottom | QCP::msTop, margins);
  scale_->setMarginGroup(QCP::msBottom | QCP::msTop, margins);

  marker_ = new QCPItemText(plot_);
  marker_->setText(QStringLiteral("+"));
  marker_->setFont(QFont(font().family(), 20, QFont::Bold));
  marker_->setColor(Qt::red);
  marker_->setVisible(false);

  message_ = new QCPItemText(plot_);
  message_->position->setType(QCPItemPosition::ptAxisRectRatio);
  message_->position->setCoords(0.5, 0.5);
  message_->setVisible(false);

  // Square pixels at any panel size: the axis with room to spare is widened around the
  // picture (or, after the user zoomed, the y scale follows the x scale).
  connect(plot_, &QCustomPlot::afterLayout, this, [this] {
    if (fitted_) {
      fitRanges();
    } else if (keepAspect_) {
      plot_->yAxis->setScaleRatio(plot_->xAxis, 1.0);
    }
  });
  connect(plot_, &QCustomPlot::mouseWheel, this, [this] { fitted_ = false; });
  connect(plot_, &QCustomPlot::mouseRelease, this, [this] { fitted_ = false; });
  connect(plot_, &QCustomPlot::mouseDoubleClick, this, &HeatmapPanel::resetView);
  connect(plot_, &QCustomPlot::mouseMove, this, [this](QMouseEvent* e) {
    int col = 0, row = 0;
    if (!cellAt(e->position(), &col, &row)) return;
    if (!map_->visible()) {  // a picture with a query grid: no values to read
      Q_EMIT hovered(tr("cell (%1, %2): click to select it").arg(col).arg(row));
      return;
    }
    const double v = map_->data()->cell(col, row);
    const double t = hi_ > lo_ ? std::clamp((v - lo_) / (hi_ - lo_), 0.0, 1.0) : 0.0;
    Q_EMIT hovered(tr("cell (%1, %2): value %3, normalised %4")
                       .arg(col).arg(row).arg(v, 0, 'g', 6).arg(t, 0, 'f', 3));
  });
  connect(plot_, &QCustomPlot::mousePress, this, [this](QMouseEvent* e) {
    int col = 0, row = 0;
    if (e->button() == Qt::LeftButton && e->modifiers() == Qt::NoModifier &&
        cellAt(e->position(), &col, &row)) {
      Q_EMIT cellClicked(col, row);
    }
  });
  clear(tr("No result yet"));
}

void HeatmapPanel::fitRanges() {
  const QRect r = plot_->axisRect()->rect();
  double w = extentW_, h = extentH_;
  if (keepAspect_ && r.width() > 0 && r.height() > 0) {
    const double panel = static_cast<double>(r.width()) / r.height();
    if (panel > w / h) {
      w = h * panel;
    } else {
      h = w / panel;
    }
  }
  plot_->xAxis->setRange(extentW_ / 2 - w / 2, extentW_ / 2 + w / 2);
  plot_->yAxis->setRange(extentH_ / 2 - h / 2, extentH_ / 2 + h / 2);
}

void HeatmapPanel::showExtent(double w, double h, bool keepAspect) {
  static_cast<PictureTicker*>(xTicker_.data())->hi = w;
  static_cast<PictureTicker*>(yTicker_.data())->hi = h;
  // The same picture again (another channel, colormap, query): keep the user's zoom.
  if (w == extentW_ && h == extentH_ && keepAspect == keepAspect_ && !fitted_) return;
  extentW_ = w;
  extentH_ = h;
  keepAspect_ = keepAspect;
  fitted_ = true;
  fitRanges();
}

void HeatmapPanel::resetView() {
  fitted_ = true;
  plot_->replot();
}

bool HeatmapPanel::cellAt(const QPointF& pixel, int* col, int* row) const {
  if (cols_ <= 0 || rows_ <= 0) return false;
  const double x = plot_->xAxis->pixelToCoord(pixel.x());
  const double y = plot_->yAxis->pixelToCoord(pixel.y());
  const int c = static_cast<int>(std::floor(x / cellW_));
  const int r = static_cast<int>(std::floor(y / cellH_));
  if (c < 0 || r < 0 || c >= cols_ || r >= rows_) return false;
  *col = c;
  *row = r;
  return true;
}

const QCPColorMap* HeatmapPanel::colorMap() const { return map_; }

void HeatmapPanel::showMap(const at::Tensor& map, const QImage& base, const HeatmapStyle& style) {
  showFrame(renderHeatmapFrame(map, base.size(), style), base);
}

void HeatmapPanel::showFrame(HeatmapFrame f, const QImage& base) {
  const HeatmapStyle& style = f.style;
  rows_ = f.rows;
  cols_ = f.cols;
  const double w = f.width, h = f.height;
  cellW_ = w / cols_;
  cellH_ = h / rows_;
  lo_ = style.lo;
  hi_ = style.hi > style.lo ? style.hi : style.lo + 1e-12;

  // QCPColorMapData cell (i,j) sits at its centre coordinate: the map spans the image.
  map_->data()->setSize(cols_, rows_);
  map_->data()->setRange(QCPRange(cellW_ / 2, w - cellW_ / 2), QCPRange(cellH_ / 2, h - cellH_ / 2));
  const double* p = f.values.data_ptr<double>();
  for (int r = 0; r < rows_; ++r) {
    for (int c = 0; c < cols_; ++c) map_->data()->setCell(c, r, p[r * cols_ + c]);
  }
  map_->setColours(std::move(f.colours), QRectF(0, 0, w, h));
  map_->setDataRange(QCPRange(lo_, hi_));
  scale_->setVisible(true);
  scale_->axis()->setLabel(style.rangeLabel);
  scale_->setGradient(makeGradient(style.colormap, 1.0));
  scale_->setDataRange(QCPRange(lo_, hi_));

  background_->setVisible(!base.isNull());
  // The same picture again (another colormap, channel, a new run on the same input): no new
  // pixmap, so QCPItemPixmap keeps its scaled copy instead of smooth-scaling it again.
  if (!base.isNull() && base.cacheKey() != backgroundKey_) {
    background_->setPixmap(QPixmap::fromImage(base));
    backgroundKey_ = base.cacheKey();
  }
  if (!base.isNull()) {
    background_->topLeft->setCoords(0, 0);
    background_->bottomRight->setCoords(w, h);
  }
  message_->setVisible(false);
  map_->setVisible(true);
  plot_->plotLayout()->setRowSpacing(0);
  showExtent(w, h, style.keepAspect);
  plot_->xAxis->setLabel(style.xLabel);
  plot_->yAxis->setLabel(style.yLabel);
  plot_->xAxis2->setLabel(style.title);
  setRowNames(style.rowNames);
  plot_->replot();
}

void HeatmapPanel::setRowNames(const QStringList& names) {
  if (names.isEmpty()) {
    plot_->yAxis->setTicker(yTicker_);
    plot_->yAxis2->setTicker(yTicker_);
    return;
  }
  // One labelled tick in the middle of each row: the rows are things (scales), not a grid.
  auto text = QSharedPointer<QCPAxisTickerText>::create();
  for (int r = 0; r < names.size() && r < rows_; ++r) text->addTick((r + 0.5) * cellH_, names[r]);
  plot_->yAxis->setTicker(text);
  plot_->yAxis2->setTicker(text);
}

void HeatmapPanel::showRgb(const QImage& rgb, const QString& title, const QString& xLabel, const QString& yLabel) {
  cols_ = rows_ = 0;
  map_->setVisible(false);
  scale_->setVisible(false);
  background_->setVisible(true);
  background_->setPixmap(QPixmap::fromImage(rgb));
  backgroundKey_ = rgb.cacheKey();
  background_->topLeft->setCoords(0, 0);
  background_->bottomRight->setCoords(rgb.width(), rgb.height());
  message_->setVisible(false);
  showExtent(rgb.width(), rgb.height(), true);
  plot_->xAxis->setLabel(xLabel);
  plot_->yAxis->setLabel(yLabel);
  plot_->xAxis2->setLabel(title);
  setRowNames({});
  plot_->replot();
}

void HeatmapPanel::showImageGrid(const QImage& image, int cols, int rows, const QString& title) {
  showRgb(image, title);
  cols_ = cols;
  rows_ = rows;
  cellW_ = static_cast<double>(image.width()) / cols;
  cellH_ = static_cast<double>(image.height()) / rows;
}

void HeatmapPanel::clear(const QString& message) {
  cols_ = rows_ = 0;
  map_->setVisible(false);
  scale_->setVisible(false);
  background_->setVisible(false);
  marker_->setVisible(false);
  message_->setText(message);
  message_->setVisible(true);
  plot_->replot();
}

void HeatmapPanel::setMarker(int col, int row) {
  if (col < 0 || row < 0 || cols_ == 0) {
    marker_->setVisible(false);
  } else {
    marker_->position->setCoords((col + 0.5) * cellW_, (row + 0.5) * cellH_);
    marker_->setVisible(true);
  }
  plot_->replot();
}

}  // namespace fl::ui
