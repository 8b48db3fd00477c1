#include "ui/views/attention_view.h"

#include <ATen/ATen.h>

#include <QCoreApplication>
#include <QLabel>
#include <QSplitter>
#include <QThreadPool>
#include <QVBoxLayout>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <tuple>

#include "core/render/reductions.h"
#include "ui/document.h"
#include "ui/timing.h"

namespace fl::ui {

/// The per-query peaks of one result's matrix (and the head mean, when it is drawn): a click on
/// another query pixel needs only its row.
struct AttentionCache {
  uint64_t resultId = 0;
  QString label;
  int64_t batch = -1;
  int head = -2;
  at::Tensor peak;  ///< [qh, qw]
  at::Tensor a;     ///< [Nq, Nk] the head (or mean of heads); undefined when too large to draw
};

namespace {

QString trA(const char* text) { return QCoreApplication::translate("fl::ui::AttentionView", text); }

constexpr int64_t kMaxCells = 2'000'000;  // drawing more matrix cells than this only blurs

/// The key panel's picture: one query's attention row [kh, kw] over the key image.
HeatmapFrame keyRowFrame(const at::Tensor& row, const QString& label, const ViewSettings& v, int qx, int qy, int head,
                         int64_t heads, QSize keyBase) {
  // One softmax row over Nk keys sums to 1, so its values sit near 1/Nk: on the natural
  // [0, 1] scale the map would be blank. The row is scaled like an unbounded map instead.
  const SelectedTensor rowTensor{row, ProbeKind::SpatialMap, std::nan(""), std::nan(""), label};
  HeatmapStyle ks = styleFor(row, rowTensor, v, false);
  ks.title = trA("query (%1, %2): %3")
                 .arg(qx)
                 .arg(qy)
                 .arg(head >= 0 ? trA("head %1").arg(head) : trA("mean of %1 heads").arg(heads));
  return renderHeatmapFrame(row, keyBase, ks);
}

}  // namespace

AttentionFrame renderAttentionFrame(const AttentionRenderRequest& req, AttentionCache* cache) {
  AttentionFrame f;
  f.thread = std::this_thread::get_id();
  const SelectedTensor& t = req.tensor;
  const ViewSettings& v = req.view;
  const int64_t b = req.batch;
  const int64_t heads = t.value.size(1), nq = t.value.size(2), nk = t.value.size(3);
  const int64_t qh = req.haveInput ? req.qh : 1, qw = req.haveInput ? req.qw : nq;
  if (qh * qw != nq) {
    f.gridMismatch = true;
    f.note = trA("The attention's %1 queries do not match the input grid.").arg(nq);
    return f;
  }
  try {
    const auto [kh, kw] = render::attentionKeyGrid(nk, qh, qw);
    f.aspect = req.queryBase.isNull() ? static_cast<double>(qw) / qh
                                      : static_cast<double>(req.queryBase.width()) / req.queryBase.height();
    const int head = v.head >= 0 && v.head < heads ? v.head : -1;
    const bool drawMatrix = nq * nk <= kMaxCells;
    AttentionCache local;
    AttentionCache& c = cache ? *cache : local;
    if (c.resultId != req.resultId || c.label != t.label || c.batch != b || c.head != head || !c.peak.defined() ||
        req.resultId == 0) {
      // The mean over heads of a large matrix is the costly part: one pass, kept.
      const at::Tensor a = head >= 0 ? t.value[b][head] : t.value[b].mean(0);  // [Nq,Nk]
      c = AttentionCache{req.resultId, t.label, b, head, std::get<0>(a.max(1)).reshape({qh, qw}),
                         drawMatrix ? (head >= 0 ? a.clone() : a) : at::Tensor()};  // not a view of the result
    }
    // Query panel: how peaked each query's attention is (its largest weight).
    const at::Tensor& peak = c.peak;
    HeatmapStyle qs = styleFor(peak, {peak, ProbeKind::SpatialMap, std::nan(""), std::nan(""), {}}, v, false);
    qs.title = trA("queries: peak weight; click a pixel");
    f.query = renderHeatmapFrame(peak, req.queryBase.size(), qs);
    f.qx = v.queryX >= 0 && v.queryX < qw ? v.queryX : static_cast<int>(qw / 2);
    f.qy = v.queryY >= 0 && v.queryY < qh ? v.queryY : static_cast<int>(qh / 2);
    const at::Tensor row = render::attentionRowMap(t.value, b, head, f.qy * qw + f.qx, kh, kw);
    f.key = keyRowFrame(row, t.label, v, f.qx, f.qy, head, heads, req.keyBase.size());
    f.note = trA("%1: %2 heads, %3 queries x %4 keys (%5x%6).").arg(t.label).arg(heads).arg(nq).arg(nk).arg(kw).arg(kh);
    f.matrixShown = drawMatrix;
    if (drawMatrix) {
      HeatmapStyle ms = styleFor(c.a, t, v, false);
      ms.title = trA("attention matrix (rows: queries, columns: keys)");
      ms.keepAspect = false;
      ms.xLabel = trA("key (flat index)");
      ms.yLabel = trA("query (flat index)");
      f.matrix = renderHeatmapFrame(c.a, QSize(), ms);
    } else {
      // The query view above is the way to read it.
      f.note += trA(" The %1 x %2 matrix is too large to draw; click query pixels instead.").arg(nq).arg(nk);
    }
  } catch (const std::exception& e) {
    if (cache) *cache = AttentionCache{};
    f.error = trA("%1 cannot be shown as attention: %2").arg(t.label, QString::fromUtf8(e.what()).section(QLatin1Char('\n'), 0, 0));
  }
  return f;
}

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

  pool_ = new QThreadPool(this);
  pool_->setMaxThreadCount(1);
  cache_ = std::make_shared<AttentionCache>();

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

AttentionView::~AttentionView() {
  pending_.reset();
  pool_->clear();
  pool_->waitForDone();  // the task posts to this view; it must not outlive it
}

void AttentionView::showTensor(const SelectedTensor& t) { t.onDemand ? showOnDemand(t) : showMatrix(t); }

void AttentionView::showMatrix(const SelectedTensor& t) {
  // Layouts the view cannot show are refused here, on the GUI thread, so ProbeView says why.
  if (t.value.dim() != 4) throw std::invalid_argument("an attention view needs a [B, heads, Nq, Nk] tensor");
  AttentionRenderRequest req;
  req.tensor = t;
  req.view = document_->view();
  req.batch = batchOf(t.value);
  const at::Tensor x = document_->resultInput(0);
  req.haveInput = x.defined() && x.dim() == 4;
  if (req.haveInput) {
    req.qh = x.size(2);
    req.qw = x.size(3);
  }
  req.queryBase = document_->baseImage(0);
  // Cross-attention (cmgm) looks at the second input; self-attention at the first.
  req.crossAttention = document_->descriptor() && document_->descriptor()->inputs.size() > 1;
  req.keyBase = document_->baseImage(req.crossAttention ? 1 : 0);
  req.resultId = document_->result() ? document_->result()->requestId : 0;
  pending_ = std::move(req);
  ++serial_;
  if (!inFlight_) startRender();
}

void AttentionView::startRender() {
  if (!pending_) return;
  inFlight_ = true;
  auto req = std::make_shared<AttentionRenderRequest>(std::move(*pending_));
  pending_.reset();
  const uint64_t serial = serial_;
  std::shared_ptr<AttentionCache> cache = cache_;
  timingMark("attention render queued");
  pool_->start([this, req, cache, serial] {
    const auto t0 = std::chrono::steady_clock::now();
    auto frame = std::make_shared<AttentionFrame>(renderAttentionFrame(*req, cache.get()));
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    timingMark("attention render done (render thread)");
    // Posted to this view: dropped by Qt if the view is gone (it waits for this task first).
    QMetaObject::invokeMethod(
        this,
        [this, req, frame, serial, ms] {
          inFlight_ = false;
          if (serial == serial_) {
            showFrame(std::move(*frame), *req, ms);
          } else {
            startRender();  // a newer request supersedes this frame
          }
        },
        Qt::QueuedConnection);
  });
}

void AttentionView::waitForRender() {
  while (rendering()) {
    if (!inFlight_) startRender();
    pool_->waitForDone();
    QCoreApplication::sendPostedEvents(this, QEvent::MetaCall);
  }
}

void AttentionView::showFrame(AttentionFrame f, const AttentionRenderRequest& req, double renderMs) {
  lastThread_ = f.thread;
  note_->setText(f.error.isEmpty() ? f.note : f.error);
  if (!f.gridMismatch && f.error.isEmpty()) {
    pair_->setAspect(f.aspect);
    query_->showFrame(std::move(f.query), req.queryBase);
    query_->setMarker(f.qx, f.qy);
    key_->showFrame(std::move(f.key), req.keyBase);
    if (f.matrixShown) {
      matrix_->show();
      matrix_->showFrame(std::move(f.matrix), QImage());
      matrix_->setMarker(-1, -1);
    } else {
      matrix_->hide();
    }
  } else if (!f.error.isEmpty()) {
    query_->clear(QString());
    key_->clear(f.error);
    matrix_->hide();
  }
  timingMark("attention frame shown (GUI thread)");
  Q_EMIT frameShown(renderMs);
}

void AttentionView::showOnDemand(const SelectedTensor& t) {
  // A held matrix's frame still on its way is of an older result: never shown.
  pending_.reset();
  ++serial_;
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
    const int keyInput = document_->descriptor() && document_->descriptor()->inputs.size() > 1 ? 1 : 0;
    const QImage keyImage = document_->baseImage(keyInput);
    key_->showFrame(keyRowFrame(row, t.label, v, qx, qy, head, heads, keyImage.size()), keyImage);
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
