#pragma once
// Scale weights [B,C,S] (ScaleWeights, MSF/MFE): grouped per-scale bars over the channels, and the
// scale x channel matrix as a heatmap.
#include "ui/views/kind_view.h"

namespace fl::ui {

class BarPanel;

class ScaleView : public KindView {
  Q_OBJECT
 public:
  explicit ScaleView(Document* document, QWidget* parent = nullptr);
  void showTensor(const SelectedTensor& t) override;

  BarPanel* bars() const { return bars_; }
  HeatmapPanel* matrix() const { return matrix_; }

 private:
  BarPanel* bars_;
  HeatmapPanel* matrix_;
};

}  // namespace fl::ui
