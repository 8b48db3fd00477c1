#pragma once
// Spatial maps, gates and feature maps [B,C,H,W] (SpatialMap, Gate, FeatureMap): a heatmap over
// the image (a gate or feature map: one channel or the mean over channels; a feature map may be
// shown as PCA to RGB), and under it each channel's mean as a strip of bars to pick a channel.
#include "ui/views/kind_view.h"

namespace fl::ui {

class BarPanel;

class MapView : public KindView {
  Q_OBJECT
 public:
  explicit MapView(Document* document, QWidget* parent = nullptr);
  void showTensor(const SelectedTensor& t) override;

  HeatmapPanel* heatmap() const { return heatmap_; }
  BarPanel* channelStrip() const { return channelStrip_; }

 private:
  void showChannelStrip(const SelectedTensor& t, int64_t batch, bool complement);

  HeatmapPanel* heatmap_;
  BarPanel* channelStrip_;
};

}  // namespace fl::ui
