#pragma once
// A heatmap over an image: QCPColorMap holding the raw values, a QCPColorScale that states
// the value range and the normalisation mode, zoom and pan, hover read-out, click events.
#include <ATen/core/Tensor.h>

#include <QImage>
#include <QRectF>
#include <QSharedPointer>
#include <QStringList>
#include <QWidget>

class QCustomPlot;
class QCPColorGradient;
class QCPColorMap;
class QCPColorScale;
class QCPItemPixmap;
class QCPItemTracer;
class QCPItemText;
class QCPAxisTicker;

namespace fl::ui {

struct HeatmapStyle {
  QString colormap = QStringLiteral("viridis");
  double lo = 0, hi = 1;      ///< colour range in raw units
  QString rangeLabel;         ///< e.g. "natural [0, 1]" written on the colorbar
  double alpha = 0.6;         ///< opacity of the heatmap over the image
  QString title;
  /// Square pixels (images, spatial maps); off for matrices whose rows and columns are
  /// different things (queries x keys, scales x channels), which fill the panel instead.
  bool keepAspect = true;
  QString xLabel = QStringLiteral("x (pixels)"), yLabel = QStringLiteral("y (pixels)");
  /// Names of the rows, ticked at the rows' centres (MFE's scales), instead of numbered edges.
  QStringList rowNames;
};

/// A map ready to show: its values (for the hover read-out and tests) and its colours, the
/// overlay alpha included, one pixel per cell. Made by renderHeatmapFrame() on any thread, so
/// the colour mapping need not run on the GUI thread; HeatmapPanel::showFrame() only copies the
/// values into the plot's cells and blits. Plain values: no QObject, QPixmap or QCustomPlot
/// object is made off the GUI thread (architecture.md, "Running work").
struct HeatmapFrame {
  at::Tensor values;  ///< [rows, cols] double, contiguous, CPU
  QImage colours;     ///< ARGB32 premultiplied, cols x rows, row 0 = the map's row 0
  int rows = 0, cols = 0;
  double width = 1, height = 1;  ///< the picture's extent in plot coordinates
  HeatmapStyle style;
};

/// Colours `map` [H,W] with `style` for a picture of `base` size (empty: unit cells, opaque).
/// Thread-safe: no widgets, no QPixmap.
HeatmapFrame renderHeatmapFrame(const at::Tensor& map, QSize base, const HeatmapStyle& style);

class HeatmapPanel : public QWidget {
  Q_OBJECT
 public:
  explicit HeatmapPanel(QWidget* parent = nullptr);

  /// map [H,W] (any float dtype) drawn over `base` (stretched to the image; no image: cells
  /// are unit squares). Cells keep their raw values; colours follow `style`.
  void showMap(const at::Tensor& map, const QImage& base, const HeatmapStyle& style);
  /// A map rendered elsewhere (renderHeatmapFrame, e.g. on a render thread) over `base`.
  void showFrame(HeatmapFrame frame, const QImage& base);
  /// An RGB picture instead of a scalar map (PCA-to-RGB); the colorbar is hidden.
  void showRgb(const QImage& rgb, const QString& title, const QString& xLabel = QStringLiteral("x (pixels)"),
               const QString& yLabel = QStringLiteral("y (pixels)"));
  /// A picture divided into a cols x rows grid of clickable cells (a query grid over the
  /// image it came from); no scalar map, no colorbar.
  void showImageGrid(const QImage& image, int cols, int rows, const QString& title);
  void clear(const QString& message);
  /// Marks a cell (query pixel) with a cross; col/row < 0 hides it.
  void setMarker(int col, int row);
  /// Shows the whole map again (as after a double click), undoing zoom and pan.
  void resetView();

  // For tests and linked views: the data behind the plot.
  const QCPColorMap* colorMap() const;
  QCustomPlot* plot() const { return plot_; }
  int mapWidth() const { return cols_; }
  int mapHeight() const { return rows_; }

 Q_SIGNALS:
  void cellClicked(int col, int row);
  void hovered(const QString& text);

 private:
  bool cellAt(const QPointF& pixel, int* col, int* row) const;
  void setRowNames(const QStringList& names);
  void showExtent(double w, double h, bool keepAspect);
  void fitRanges();

  QCustomPlot* plot_;
  class PrerenderedMap;
  PrerenderedMap* map_;
  QCPColorScale* scale_;
  QCPItemPixmap* background_;
  QCPItemText* marker_;
  QCPItemText* message_;
  int cols_ = 0, rows_ = 0;
  double cellW_ = 1, cellH_ = 1;
  double lo_ = 0, hi_ = 1;
  QSharedPointer<QCPAxisTicker> xTicker_, yTicker_;  ///< label only the picture's extent
  double extentW_ = 1, extentH_ = 1;  ///< the picture's size in plot coordinates
  bool keepAspect_ = true;
  bool fitted_ = true;  ///< showing the whole picture (false once the user zooms or pans)
  qint64 backgroundKey_ = 0;  ///< QImage::cacheKey of the background shown: set it only when new
};

/// The QCustomPlot gradient of a FusionLens colormap (same LUT as core/render), with alpha.
QCPColorGradient makeGradient(const QString& colormap, double alpha);

}  // namespace fl::ui
