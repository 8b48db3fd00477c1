#pragma once
// Attention matrices [B,heads,Nq,Nk] (AttentionMatrix, OSRA/CMGM): the query grid (click a pixel),
// that query's attention row over the key image, and the matrix itself when it is small enough to
// draw. When the run withheld the matrix (over the memory budget), the clicked pixel's row is
// computed on demand through the document.
#include "ui/views/kind_view.h"

class QLabel;

namespace fl::ui {

class AttentionView : public KindView {
  Q_OBJECT
 public:
  explicit AttentionView(Document* document, QWidget* parent = nullptr);
  void showTensor(const SelectedTensor& t) override;

  HeatmapPanel* queryMap() const { return query_; }
  HeatmapPanel* keyMap() const { return key_; }
  HeatmapPanel* matrix() const { return matrix_; }

 private:
  void showMatrix(const SelectedTensor& t);
  void showOnDemand(const SelectedTensor& t);
  /// The key panel: one query's attention row [kh,kw] over the key image.
  void showKeyRow(const at::Tensor& row, const SelectedTensor& t, int qx, int qy, int head, int64_t heads);

  QLabel* note_;
  HeatmapPanel* query_;
  HeatmapPanel* key_;
  HeatmapPanel* matrix_;
  PairArranger* pair_;  ///< query and key panels
};

}  // namespace fl::ui
