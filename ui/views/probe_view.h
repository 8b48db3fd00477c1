#pragma once
// Shows the document's current tensor (a probe, an output or an input) with the view its
// kind calls for (architecture.md: probe kind -> view, napari's layer -> visual table):
//   SpatialMap, Gate, FeatureMap -> heatmap over the image (gate/feature: mean or channel)
//   ChannelWeights              -> bars; click a channel: its map before and after
//   ScaleWeights                -> grouped per-scale bars + channel x scale heatmap
//   AttentionMatrix             -> query panel (click a pixel) + its attention row over the
//                                  key image + the matrix; when the run withheld the matrix
//                                  (over the memory budget), the clicked pixel's row is
//                                  computed on demand by the run controller
//   ChannelMatrix               -> matrix heatmap
#include <ATen/core/Tensor.h>

#include <QWidget>

#include "core/modules/probe.h"

class QStackedWidget;
class QLabel;
class QSplitter;

namespace fl::ui {

class Document;
class HeatmapPanel;
class BarPanel;

enum class ViewPage { Heatmap, Bars, ScaleWeights, Attention, Matrix, Empty };

/// The table: which view shows a probe kind.
ViewPage pageForKind(ProbeKind kind);

/// The tensor the view settings name, with its kind and natural range.
struct SelectedTensor {
  at::Tensor value;
  ProbeKind kind = ProbeKind::FeatureMap;
  double lo = 0, hi = 0;  ///< natural range (NaN when unbounded)
  QString label;
  bool onDemand = false;  ///< a withheld attention probe: `value` is undefined, rows on demand
};

class ProbeView : public QWidget {
  Q_OBJECT
 public:
  explicit ProbeView(Document* document, QWidget* parent = nullptr);

  ViewPage currentPage() const { return page_; }
  HeatmapPanel* heatmap() const { return heatmap_; }
  /// Under the heatmap of a gate or feature map: each channel's mean; click one to show it.
  BarPanel* channelStrip() const { return channelStrip_; }
  BarPanel* bars() const { return bars_; }
  HeatmapPanel* beforeMap() const { return before_; }
  HeatmapPanel* afterMap() const { return after_; }
  BarPanel* scaleBars() const { return scaleBars_; }
  HeatmapPanel* scaleMatrix() const { return scaleMatrix_; }
  HeatmapPanel* queryMap() const { return query_; }
  HeatmapPanel* keyMap() const { return key_; }
  HeatmapPanel* matrix() const { return matrix_; }

  /// Resolves the document's view settings to a tensor; false when there is none.
  bool selected(SelectedTensor* out) const;

 Q_SIGNALS:
  void hovered(const QString& text);

 public Q_SLOTS:
  void refresh();

 private:
  void showHeatmapPage(const SelectedTensor& t);
  void showBarsPage(const SelectedTensor& t);
  void showScalePage(const SelectedTensor& t);
  void showAttentionPage(const SelectedTensor& t);
  void showAttentionOnDemand(const SelectedTensor& t);
  /// The key panel: one query's attention row [kh,kw] over the key image.
  void showKeyRow(const at::Tensor& row, const SelectedTensor& t, int qx, int qy, int head, int64_t heads);
  void showChannelStrip(const SelectedTensor& t, int64_t batch, bool complement);
  void showMatrixPage(const SelectedTensor& t);
  void showChannelMaps(int channel);
  void setPage(ViewPage page);
  /// Side by side or one above the other, whichever shows two pictures of aspect w/h larger.
  void arrangePair(QSplitter* pair, double aspect);
  bool eventFilter(QObject* watched, QEvent* event) override;

  Document* document_;
  QStackedWidget* stack_;
  QLabel* empty_;
  HeatmapPanel* heatmap_;
  BarPanel* channelStrip_;
  BarPanel* bars_;
  HeatmapPanel* before_;
  HeatmapPanel* after_;
  BarPanel* scaleBars_;
  HeatmapPanel* scaleMatrix_;
  HeatmapPanel* query_;
  HeatmapPanel* key_;
  HeatmapPanel* matrix_;
  QLabel* attentionNote_;
  QSplitter* mapsPair_;   ///< before / after maps under the channel bars
  QSplitter* queryPair_;  ///< query and key panels of the attention page
  double mapsAspect_ = 1, queryAspect_ = 1;  ///< width / height of what each pair shows
  ViewPage page_ = ViewPage::Empty;
};

}  // namespace fl::ui
