#pragma once
// Channel weights [B,C] (ChannelWeights): one bar per channel (sortable, top-k); click a channel
// to see its map before the module (input 0) and after it (output 0), on one raw-unit scale.
#include "ui/views/kind_view.h"

class QSplitter;

namespace fl::ui {

class BarPanel;

class ChannelBarsView : public KindView {
  Q_OBJECT
 public:
  explicit ChannelBarsView(Document* document, QWidget* parent = nullptr);
  void showTensor(const SelectedTensor& t) override;

  BarPanel* bars() const { return bars_; }
  HeatmapPanel* beforeMap() const { return before_; }
  HeatmapPanel* afterMap() const { return after_; }

 private:
  void showChannelMaps(int channel);

  BarPanel* bars_;
  HeatmapPanel* before_;
  HeatmapPanel* after_;
  PairArranger* pair_;  ///< before / after maps under the bars
};

}  // namespace fl::ui
