#include "ui/compare_view.h"

#include <QMouseEvent>
#include <QPainter>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>

namespace fl::ui {

CompareView::CompareView(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);
  setMinimumHeight(160);
  setAttribute(Qt::WA_OpaquePaintEvent);
}

void CompareView::setPlaceholder(const QString& text) {
  placeholder_ = text;
  update();
}

void CompareView::setModel(std::shared_ptr<const figure::FigureModel> model) {
  model_ = std::move(model);
  layoutError_.clear();
  if (model_) {
    // Keep the height the figure needs at this width (a tall grid scrolls in its dock). A layout
    // that cannot be drawn (too many panels for the width) is said in the view, not thrown
    // through Qt's event loop (the GUI monkey found that crash).
    try {
      const QSizeF in = figure::figureSizeInches(*model_);
      setMinimumHeight(std::max(160, static_cast<int>(in.height() * figureDpi()) + 4));
    } catch (const std::exception& e) {
      layoutError_ = QString::fromUtf8(e.what());
    }
  }
  update();
}

double CompareView::figureDpi() const {
  if (!model_) return 96;
  return std::max(30.0, (width() - 4) / model_->spec.layout.widthIn);
}

void CompareView::resetZoom() {
  viewport_.unit = QRectF(0, 0, 1, 1);
  update();
}

void CompareView::zoom(double factor, QPointF c) {
  QRectF& u = viewport_.unit;
  const double w = std::clamp(u.width() / factor, 1.0 / 64, 1.0);
  const double h = std::clamp(u.height() / factor, 1.0 / 64, 1.0);
  const double fx = u.width() > 0 ? (c.x() - u.left()) / u.width() : 0.5;
  const double fy = u.height() > 0 ? (c.y() - u.top()) / u.height() : 0.5;
  double x = c.x() - fx * w, y = c.y() - fy * h;
  x = std::clamp(x, 0.0, 1.0 - w);
  y = std::clamp(y, 0.0, 1.0 - h);
  u = QRectF(x, y, w, h);
  update();
}

void CompareView::setCrosshair(QPointF unit) {
  viewport_.crosshair = unit;
  update();
  Q_EMIT hoverText(unit.x() >= 0 ? valuesAt(unit) : QString());
}

QString CompareView::valuesAt(QPointF unit) const {
  if (!model_ || unit.x() < 0) return {};
  QStringList parts;
  QString where;
  for (const auto& p : model_->panels) {
    if (p.kind != figure::PanelKind::Map) continue;
    const int64_t h = p.values.size(0), w = p.values.size(1);
    const int64_t x = std::clamp<int64_t>(static_cast<int64_t>(unit.x() * w), 0, w - 1);
    const int64_t y = std::clamp<int64_t>(static_cast<int64_t>(unit.y() * h), 0, h - 1);
    if (where.isEmpty()) where = tr("map cell (%1, %2) of %3x%4").arg(x).arg(y).arg(w).arg(h);
    const QString title = QString::fromStdString(model_->columnTitles[p.column]);
    parts << QStringLiteral("(%1) %2 %3")
                 .arg(QString::fromStdString(p.letter), title)
                 .arg(p.values[y][x].item<double>(), 0, 'g', 4);
  }
  return parts.isEmpty() ? QString() : where + QStringLiteral(": ") + parts.join(QStringLiteral(", "));
}

void CompareView::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), Qt::white);
  if (!model_ || !layoutError_.isEmpty()) {
    p.setPen(QColor(90, 90, 90));
    p.drawText(rect(), Qt::AlignCenter | Qt::TextWordWrap,
               !layoutError_.isEmpty() ? layoutError_ : placeholder_.isEmpty() ? tr("Add modules to compare them on the current inputs: each column runs "
                                           "one module, all on one colour scale.")
                                      : placeholder_);
    painted_.clear();
    return;
  }
  const double dpi = figureDpi();
  p.translate(2, 2);
  // Screen rasters at the widget's own resolution (the export uses the spec's dpi).
  try {
    painted_ = figure::paintFigure(p, *model_, dpi, dpi, viewport_);
  } catch (const std::exception& e) {
    layoutError_ = QString::fromUtf8(e.what());
    painted_.clear();
    update();
    return;
  }
  for (auto& pp : painted_) pp.box.translate(2, 2);
}

QPointF CompareView::unitAt(const QPointF& pos) const {
  if (!model_) return {-1, -1};
  for (const auto& pp : painted_) {
    const auto& panel = model_->panel(pp.row, pp.column);
    if (panel.kind != figure::PanelKind::Map || !pp.box.contains(pos)) continue;
    const QRectF& u = viewport_.unit;
    return {u.left() + (pos.x() - pp.box.left()) / pp.box.width() * u.width(),
            u.top() + (pos.y() - pp.box.top()) / pp.box.height() * u.height()};
  }
  return {-1, -1};
}

void CompareView::wheelEvent(QWheelEvent* e) {
  const QPointF u = unitAt(e->position());
  if (u.x() < 0) return QWidget::wheelEvent(e);
  zoom(std::pow(1.0015, e->angleDelta().y()), u);
  e->accept();
}

void CompareView::mousePressEvent(QMouseEvent* e) {
  if (e->button() == Qt::LeftButton && unitAt(e->position()).x() >= 0) {
    dragStart_ = e->position();
    dragViewport_ = viewport_.unit;
  }
}

void CompareView::mouseMoveEvent(QMouseEvent* e) {
  if (dragStart_.x() >= 0 && (e->buttons() & Qt::LeftButton)) {
    // Pan: the drag in panel fractions moves the shared viewport.
    for (const auto& pp : painted_) {
      if (!pp.box.contains(dragStart_)) continue;
      const QPointF d = e->position() - dragStart_;
      QRectF u = dragViewport_;
      u.translate(-d.x() / pp.box.width() * u.width(), -d.y() / pp.box.height() * u.height());
      u.moveLeft(std::clamp(u.left(), 0.0, 1.0 - u.width()));
      u.moveTop(std::clamp(u.top(), 0.0, 1.0 - u.height()));
      viewport_.unit = u;
      break;
    }
  }
  setCrosshair(unitAt(e->position()));
}

void CompareView::mouseReleaseEvent(QMouseEvent*) { dragStart_ = {-1, -1}; }

void CompareView::mouseDoubleClickEvent(QMouseEvent*) { resetZoom(); }

void CompareView::leaveEvent(QEvent*) { setCrosshair({-1, -1}); }

}  // namespace fl::ui
