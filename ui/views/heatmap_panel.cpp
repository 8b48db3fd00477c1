#include "ui/views/heatmap_panel.h"

#include <ATen/ATen.h>

#include <QVBoxLayout>
#include <cmath>
#include "ui/qcp.h"

#include "core/render/colormap.h"

namespace fl::ui {

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

  background_ = new QCPItemPixmap(plot_);
  background_->setScaled(true, Qt::IgnoreAspectRatio, Qt::SmoothTransformation);
  background_->setLayer(QStringLiteral("background"));
  background_->setClipToAxisRect(true);

  map_ = new QCPColorMap(plot_->xAxis, plot_->yAxis);
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

void HeatmapPanel::showMap(const at::Tensor& mapIn, const QImage& base, const HeatmapStyle& style) {
  const at::Tensor m = mapIn.detach().to(at::kCPU, at::kDouble).contiguous();
  rows_ = static_cast<int>(m.size(0));
  cols_ = static_cast<int>(m.size(1));
  const double w = base.isNull() ? cols_ : base.width();
  const double h = base.isNull() ? rows_ : base.height();
  cellW_ = w / cols_;
  cellH_ = h / rows_;
  lo_ = style.lo;
  hi_ = style.hi > style.lo ? style.hi : style.lo + 1e-12;

  // QCPColorMapData cell (i,j) sits at its centre coordinate: the map spans the image.
  map_->data()->setSize(cols_, rows_);
  map_->data()->setRange(QCPRange(cellW_ / 2, w - cellW_ / 2), QCPRange(cellH_ / 2, h - cellH_ / 2));
  const double* p = m.data_ptr<double>();
  for (int r = 0; r < rows_; ++r) {
    for (int c = 0; c < cols_; ++c) map_->data()->setCell(c, r, p[r * cols_ + c]);
  }
  map_->setGradient(makeGradient(style.colormap, base.isNull() ? 1.0 : style.alpha));
  map_->setDataRange(QCPRange(lo_, hi_));
  scale_->setVisible(true);
  scale_->axis()->setLabel(style.rangeLabel);
  scale_->setGradient(makeGradient(style.colormap, 1.0));
  scale_->setDataRange(QCPRange(lo_, hi_));

  background_->setVisible(!base.isNull());
  if (!base.isNull()) {
    background_->setPixmap(QPixmap::fromImage(base));
    background_->topLeft->setCoords(0, 0);
    background_->bottomRight->setCoords(w, h);
  }
  message_->setVisible(false);
  map_->setVisible(true);
  plot_->plotLayout()->setRowSpacing(0);
  plot_->xAxis->setRange(0, w);
  plot_->yAxis->setRange(0, h);
  plot_->xAxis2->setLabel(style.title);
  plot_->replot();
}

void HeatmapPanel::showRgb(const QImage& rgb, const QString& title) {
  cols_ = rows_ = 0;
  map_->setVisible(false);
  scale_->setVisible(false);
  background_->setVisible(true);
  background_->setPixmap(QPixmap::fromImage(rgb));
  background_->topLeft->setCoords(0, 0);
  background_->bottomRight->setCoords(rgb.width(), rgb.height());
  message_->setVisible(false);
  plot_->xAxis->setRange(0, rgb.width());
  plot_->yAxis->setRange(0, rgb.height());
  plot_->xAxis2->setLabel(title);
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
