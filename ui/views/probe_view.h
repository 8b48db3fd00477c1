#pragma once
// Shows the document's current tensor (a probe, an output or an input) with the view its
// kind calls for: one KindView per group of kinds, registered in one kind -> view table
// (architecture.md: probe kind -> view, napari's layer -> visual table; probe_view.cpp):
//   SpatialMap, Gate, FeatureMap -> MapView: heatmap over the image (gate/feature: mean or channel)
//   ChannelWeights              -> ChannelBarsView: bars; click a channel: its map before and after
//   ScaleWeights                -> ScaleView: grouped per-scale bars + channel x scale heatmap
//   AttentionMatrix             -> AttentionView: query panel (click a pixel) + its attention row
//                                  over the key image + the matrix; rows on demand when withheld
//   ChannelMatrix               -> MatrixView: matrix heatmap
// A new kind: a KindView subclass (its own header/source pair) and one line in the table.
#include <QWidget>
#include <map>

#include "core/modules/probe.h"
#include "ui/views/kind_view.h"

class QStackedWidget;
class QLabel;

namespace fl::ui {

class Document;
class BarPanel;
class MapView;
class ChannelBarsView;
class ScaleView;
class AttentionView;
class MatrixView;

enum class ViewPage { Heatmap, Bars, ScaleWeights, Attention, Matrix, Empty };

/// The table: which view shows a probe kind.
ViewPage pageForKind(ProbeKind kind);

class ProbeView : public QWidget {
  Q_OBJECT
 public:
  explicit ProbeView(Document* document, QWidget* parent = nullptr);

  ViewPage currentPage() const { return page_; }
  HeatmapPanel* heatmap() const;
  /// Under the heatmap of a gate or feature map: each channel's mean; click one to show it.
  BarPanel* channelStrip() const;
  BarPanel* bars() const;
  HeatmapPanel* beforeMap() const;
  HeatmapPanel* afterMap() const;
  BarPanel* scaleBars() const;
  HeatmapPanel* scaleMatrix() const;
  HeatmapPanel* queryMap() const;
  HeatmapPanel* keyMap() const;
  HeatmapPanel* matrix() const;
  HeatmapPanel* channelMatrix() const;

  /// Tests: blocks until the views' render threads are done and their pictures shown
  /// (MapView and AttentionView render off the GUI thread).
  void waitForRender();
  /// The map view (tests: its render thread).
  MapView* mapView() const;

  /// Resolves the document's view settings to a tensor; false when there is none.
  bool selected(SelectedTensor* out) const;

 Q_SIGNALS:
  void hovered(const QString& text);

 public Q_SLOTS:
  void refresh();

 private:
  template <class View>
  View* viewOf(ViewPage page) const;
  void setPage(ViewPage page);

  Document* document_;
  QStackedWidget* stack_;
  QLabel* empty_;
  std::map<ViewPage, KindView*> views_;
  ViewPage page_ = ViewPage::Empty;
};

}  // namespace fl::ui
