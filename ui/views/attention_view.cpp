#include "ui/views/attention_view.h"

#include <ATen/ATen.h>

#include <QLabel>
#include <QSplitter>
#include <QVBoxLayout>
#include <cmath>

#include "core/render/reductions.h"
#include "ui/document.h"

namespace fl::ui {

AttentionView::AttentionView(Document* document, QWidget* parent) : KindView(document, parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  note_ = new QLabel;
  note_->setWordWrap(true);
  auto* split = new QSplitter(Qt::Vertical);
  auto* pair = new QSplitter(Qt::Horizontal);
  query_ = new HeatmapPanel;
  key_ = new HeatmapPanel;
  pair->addWidget(query_);
  pair->addWidget(key_);
  pair_ = new PairArranger(pair);
  matrix_ = new HeatmapPanel;
  split->addWidget(pair);
  split->addWidget(matrix_);
  split->setStretchFactor(0, 3);
  split->setStretchFactor(1, 2);
  layout->addWidget(note_);
  layout->addWidget(split);

  for (HeatmapPanel* p : {query_, key_, matrix_}) forwardHover(p);
  connect(query_, &HeatmapPanel::cellClicked, this, [this](int col, int row) {
    ViewSettings v = document_->view();
    // Clicking the same pixel again retries rows that failed or were cancelled.
    if (v.queryX == col && v.queryY == row && document_->isOnDemandProbe(v.tensor)) {
      document_->requestQueryRows(col, row, true);
    }
    v.queryX = col;
    v.queryY = row;
    document_->setView(v);
  });
}

void AttentionView::showTensor(const SelectedTensor& t) { t.onDemand ? showOnDemand(t) : showMatrix(t); }

void AttentionView::showMatrix(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const at::Tensor x = document_->resultInput(0);
  const int64_t b = batchOf(t.value);
  const int64_t heads = t.value.size(1), nq = t.value.size(2), nk = t.value.size(3);
  const int64_t qh = x.defined() ? x.size(2) : 1, qw = x.defined() ? x.size(3) : nq;
  if (qh * qw != nq) {
    note_->setText(tr("The attention's %1 queries do not match the input grid.").arg(nq));
    return;
  }
  const auto [kh, kw] = render::attentionKeyGrid(nk, qh, qw);
  const QImage queryImage = document_->baseImage(0);
  pair_->setAspect(queryImage.isNull() ? static_cast<double>(qw) / qh
                                       : static_cast<double>(queryImage.width()) / queryImage.height());
  const int head = v.head >= 0 && v.head < heads ? v.head : -1;
  const at::Tensor a = head >= 0 ? t.value[b][head] : t.value[b].mean(0);  // [Nq,Nk]
  // Query panel: how peaked each query's attention is (its largest weight).
  const at::Tensor peak = std::get<0>(a.max(1)).reshape({qh, qw});
  HeatmapStyle qs = styleFor(peak, {peak, ProbeKind::SpatialMap, std::nan(""), std::nan(""), {}}, v, false);
  qs.title = tr("queries: peak weight; click a pixel");
  query_->showMap(peak, queryImage, qs);
  const int qx = v.queryX >= 0 && v.queryX < qw ? v.queryX : static_cast<int>(qw / 2);
  const int qy = v.queryY >= 0 && v.queryY < qh ? v.queryY : static_cast<int>(qh / 2);
  query_->setMarker(qx, qy);
  const at::Tensor row = render::attentionRowMap(t.value, b, head, qy * qw + qx, kh, kw);
  showKeyRow(row, t, qx, qy, head, heads);
  note_->setText(tr("%1: %2 heads, %3 queries x %4 keys (%5x%6).").arg(t.label).arg(heads).arg(nq).arg(nk).arg(kw).arg(kh));
  matrix_->show();
  constexpr int64_t kMaxCells = 2'000'000;  // drawing more cells than this only blurs
  if (nq * nk <= kMaxCells) {
    HeatmapStyle ms = styleFor(a, t, v, false);
    ms.title = tr("attention matrix (rows: queries, columns: keys)");
    ms.keepAspect = false;
    ms.xLabel = tr("key (flat index)");
    ms.yLabel = tr("query (flat index)");
    matrix_->showMap(a, QImage(), ms);
    matrix_->setMarker(-1, -1);
  } else {
    matrix_->hide();  // the query view above is the way to read it
    note_->setText(note_->text() + tr(" The %1 x %2 matrix is too large to draw; click query pixels instead.").arg(nq).arg(nk));
  }
}

void AttentionView::showKeyRow(const at::Tensor& row, const SelectedTensor& t, int qx, int qy, int head,
                               int64_t heads) {
  // One softmax row over Nk keys sums to 1, so its values sit near 1/Nk: on the natural
  // [0, 1] scale the map would be blank. The row is scaled like an unbounded map instead.
  const SelectedTensor rowTensor{row, ProbeKind::SpatialMap, std::nan(""), std::nan(""), t.label};
  HeatmapStyle ks = styleFor(row, rowTensor, document_->view(), false);
  ks.title = tr("query (%1, %2): %3").arg(qx).arg(qy)
                 .arg(head >= 0 ? tr("head %1").arg(head) : tr("mean of %1 heads").arg(heads));
  // Cross-attention (cmgm) looks at the second input; self-attention at the first.
  const QImage keyImage = document_->baseImage(document_->descriptor() && document_->descriptor()->inputs.size() > 1 ? 1 : 0);
  key_->showMap(row, keyImage, ks);
}

void AttentionView::showOnDemand(const SelectedTensor& t) {
  const ViewSettings& v = document_->view();
  const at::Tensor x = document_->resultInput(0);
  if (!x.defined() || x.dim() != 4) {
    note_->setText(tr("%1 was withheld and its input is gone; run the module again.").arg(t.label));
    return;
  }
  const int64_t qh = x.size(2), qw = x.size(3);
  const int qx = v.queryX >= 0 && v.queryX < qw ? v.queryX : static_cast<int>(qw / 2);
  const int qy = v.queryY >= 0 && v.queryY < qh ? v.queryY : static_cast<int>(qh / 2);
  const int64_t b = batchOf(x);

  // Query panel: the picture of x (or its channel mean) divided into the query grid.
  const QImage base = document_->baseImage(0);
  const QString queryTitle = tr("queries (%1 x %2): click a pixel").arg(qw).arg(qh);
  if (!base.isNull()) {
    query_->showImageGrid(base, static_cast<int>(qw), static_cast<int>(qh), queryTitle);
  } else {
    const at::Tensor mean = x[b].mean(0);
    HeatmapStyle qs = styleFor(mean, {mean, ProbeKind::FeatureMap, std::nan(""), std::nan(""), {}}, v, false);
    qs.title = tr("x, mean over %1 channels; click a query pixel").arg(x.size(1));
    query_->showMap(mean, QImage(), qs);
  }
  query_->setMarker(qx, qy);
  matrix_->hide();  // withheld: the query and key panels take its room
  pair_->setAspect(base.isNull() ? static_cast<double>(qw) / qh : static_cast<double>(base.width()) / base.height());

  const QueryRows& rows = document_->queryRows();
  const bool haveRows = rows.requestId == document_->result()->requestId && rows.x == qx && rows.y == qy;
  const int64_t heads = haveRows && rows.rows.defined() ? rows.rows.size(1) : 0;
  const int head = v.head >= 0 && v.head < heads ? v.head : -1;
  if (haveRows && rows.rows.defined()) {
    const int64_t nk = rows.rows.size(2);
    const auto [kh, kw] = render::attentionKeyGrid(nk, qh, qw);
    const at::Tensor row = render::attentionRowMap(rows.rows.unsqueeze(2), b, head, 0, kh, kw);
    showKeyRow(row, t, qx, qy, head, heads);
    note_->setText(tr("%1, rows on demand: %2 heads, %3 queries x %4 keys (%5x%6). The full matrix is over "
                      "the memory budget, so the row of each query you click is computed for it.")
                       .arg(t.label).arg(heads).arg(qh * qw).arg(nk).arg(kw).arg(kh));
  } else if (haveRows) {
    key_->clear(rows.error);
    note_->setText(tr("%1 on demand: query (%2, %3): %4").arg(t.label).arg(qx).arg(qy).arg(rows.error));
  } else {
    // The previous row (if any) stays until the new one is ready.
    if (rows.requestId != document_->result()->requestId || !rows.rows.defined()) {
      key_->clear(tr("Computing the attention row of query (%1, %2) ...").arg(qx).arg(qy));
    }
    note_->setText(tr("%1 on demand: computing the attention row of query (%2, %3) on the worker ...")
                       .arg(t.label).arg(qx).arg(qy));
  }
  // Last: the request may answer at once (and refresh this view again).
  if (!haveRows) document_->requestQueryRows(qx, qy);
}

}  // namespace fl::ui
