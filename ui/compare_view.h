#pragma once
// The compare view's canvas: paints a FigureModel with the very painter that exports figures
// (ui/figure/figure_export.h), so what is on screen is what gets exported. Adds linked zoom
// and pan (one viewport for every map: wheel zooms at the cursor, drag pans, double-click
// resets) and a crosshair that shows the value at the same map position in every panel.
#include <QWidget>
#include <memory>

#include "ui/figure/figure_export.h"

namespace fl::ui {

class CompareView : public QWidget {
  Q_OBJECT
 public:
  explicit CompareView(QWidget* parent = nullptr);
  /// What the canvas says while it has no figure.
  void setPlaceholder(const QString& text);

  void setModel(std::shared_ptr<const figure::FigureModel> model);
  const figure::FigureModel* model() const { return model_.get(); }
  const figure::FigureViewport& viewport() const { return viewport_; }
  void resetZoom();
  /// Zooms every map by `factor` (> 1 in) about `unitCentre` (map unit coordinates).
  void zoom(double factor, QPointF unitCentre);
  /// Moves the crosshair to `unit` (map unit coordinates) and reports the values there.
  void setCrosshair(QPointF unit);
  /// One line: the map position and each panel's raw value there.
  QString valuesAt(QPointF unit) const;

  QSize sizeHint() const override { return {900, 320}; }

 Q_SIGNALS:
  void hoverText(const QString& text);

 protected:
  void paintEvent(QPaintEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  /// The map unit point under a widget position, or (-1, -1) outside every map panel.
  QPointF unitAt(const QPointF& pos) const;
  double figureDpi() const;

  std::shared_ptr<const figure::FigureModel> model_;
  QString layoutError_;  ///< why model_ cannot be drawn at its layout (shown instead)
  QString placeholder_;
  figure::FigureViewport viewport_;
  std::vector<figure::PaintedPanel> painted_;
  QPointF dragStart_{-1, -1};
  QRectF dragViewport_;
  double offsetY_ = 0;
};

}  // namespace fl::ui
