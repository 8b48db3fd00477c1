#pragma once
// The base of the views ProbeView shows, one per group of probe kinds (see probe_view.h for the
// kind -> view table), and what they share: the colour range of a map under the view settings,
// and pairs of pictures that arrange themselves side by side or stacked.
#include <ATen/core/Tensor.h>

#include <QImage>
#include <QObject>
#include <QWidget>
#include <opencv2/core/mat.hpp>

#include "core/modules/probe.h"
#include "ui/views/heatmap_panel.h"

class QSplitter;

namespace fl::ui {

class Document;
struct ViewSettings;

/// The tensor the view settings name, with its kind and natural range.
struct SelectedTensor {
  at::Tensor value;
  ProbeKind kind = ProbeKind::FeatureMap;
  double lo = 0, hi = 0;  ///< natural range (NaN when unbounded)
  QString label;
  bool onDemand = false;  ///< a withheld attention probe: `value` is undefined, rows on demand
};

/// One page of ProbeView. A new probe kind gets a subclass and a line in ProbeView's table.
class KindView : public QWidget {
  Q_OBJECT
 public:
  explicit KindView(Document* document, QWidget* parent = nullptr) : QWidget(parent), document_(document) {}
  /// Draws `t` (of a kind this view is registered for) with the document's view settings.
  virtual void showTensor(const SelectedTensor& t) = 0;
  /// A view that renders on its own thread (MapView, AttentionView): a render is running or
  /// waiting, so what it shows is not yet the newest settings (--screenshot waits for this).
  virtual bool rendering() const { return false; }
  /// Tests and scripted use: blocks until the view's pending renders are done and shown.
  virtual void waitForRender() {}

 Q_SIGNALS:
  /// A read-out for the status bar (the value under the pointer, a selected cell).
  void hovered(const QString& text);

 protected:
  /// Forwards a panel's hover read-outs as this view's.
  void forwardHover(HeatmapPanel* panel);
  /// The batch item the view settings choose, clamped to the tensor's batch size.
  int64_t batchOf(const at::Tensor& t) const;

  Document* document_;
};

/// Colour range of `map` under the view's normalisation, written on the colorbar; `complement`
/// flips a gate's natural range (1 - w).
HeatmapStyle styleFor(const at::Tensor& map, const SelectedTensor& t, const ViewSettings& v, bool complement);

/// A cv::Mat RGB picture (CV_8UC3) as a deep-copied QImage.
QImage matToImage(const cv::Mat& rgb);

/// Keeps two pictures of aspect w/h in a splitter side by side or one above the other,
/// whichever shows them larger, as the splitter's room changes.
class PairArranger : public QObject {
 public:
  explicit PairArranger(QSplitter* pair);
  void setAspect(double aspect);

 protected:
  bool eventFilter(QObject* watched, QEvent* event) override;

 private:
  void arrange();
  QSplitter* pair_;
  double aspect_ = 1;
};

}  // namespace fl::ui
