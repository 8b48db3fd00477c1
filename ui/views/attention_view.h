#pragma once
// Attention matrices [B,heads,Nq,Nk] (AttentionMatrix, OSRA/CMGM): the query grid (click a pixel),
// that query's attention row over the key image, and the matrix itself when it is small enough to
// draw. When the run withheld the matrix (over the memory budget), the clicked pixel's row is
// computed on demand through the document.
//
// A held matrix is reduced and coloured on the view's own render thread, as MapView's maps are
// (issue 15): the mean over heads, each query's peak and the matrix's range take seconds for
// cmgm's matrices (1.7 s on the GUI thread for cmgm at stride 16 on aloe), so the GUI thread
// only hands the finished frames to the panels. Changes during a render coalesce; the newest
// settings render next. The per-query peaks are kept between renders of the same result and
// head, so a click on another query pixel recomputes only its row.
#include <QImage>
#include <QSize>
#include <QString>
#include <memory>
#include <optional>
#include <thread>

#include "ui/view_settings.h"
#include "ui/views/kind_view.h"

class QLabel;
class QThreadPool;

namespace fl::ui {

/// What AttentionView renders for a held matrix: snapshots, no document.
struct AttentionRenderRequest {
  SelectedTensor tensor;
  ViewSettings view;
  int64_t batch = 0;
  bool haveInput = false;  ///< the result's first input is known (its H x W is the query grid)
  int64_t qh = 1, qw = 1;  ///< the input's grid (when haveInput)
  QImage queryBase, keyBase;  ///< pictures under the panels (null: none); only sizes are read off the GUI thread
  bool crossAttention = false;  ///< keys from the second input (cmgm)
  uint64_t resultId = 0;        ///< the result the tensor is from (the peak cache's key)
};

/// The panels' pictures for a held matrix (made by renderAttentionFrame on the render thread).
struct AttentionFrame {
  QString note;
  bool gridMismatch = false;  ///< only `note` is meaningful: the panels keep what they showed
  double aspect = 1;          ///< of the query (and key) pictures
  HeatmapFrame query, key, matrix;
  int qx = 0, qy = 0;
  bool matrixShown = false;
  QString error;  ///< non-empty: the matrix could not be drawn; say this
  std::thread::id thread;  ///< where it was rendered (tests)
};

/// Reductions kept between renders of one result (the render thread's alone).
struct AttentionCache;

/// Pure but for `cache` (may be null): no widgets, no document; any thread.
AttentionFrame renderAttentionFrame(const AttentionRenderRequest& request, AttentionCache* cache = nullptr);

class AttentionView : public KindView {
  Q_OBJECT
 public:
  explicit AttentionView(Document* document, QWidget* parent = nullptr);
  /// Waits for a render still running before the members go.
  ~AttentionView() override;
  void showTensor(const SelectedTensor& t) override;
  bool rendering() const override { return inFlight_ || pending_.has_value(); }
  void waitForRender() override;
  /// The thread that rendered the held matrix shown last (tests: never the GUI thread).
  std::thread::id lastRenderThread() const { return lastThread_; }

  HeatmapPanel* queryMap() const { return query_; }
  HeatmapPanel* keyMap() const { return key_; }
  HeatmapPanel* matrix() const { return matrix_; }

 Q_SIGNALS:
  /// A rendered frame was handed to the panels (`renderMs`: its time on the render thread).
  void frameShown(double renderMs);

 private:
  void showMatrix(const SelectedTensor& t);
  void startRender();
  void showFrame(AttentionFrame f, const AttentionRenderRequest& req, double renderMs);
  void showOnDemand(const SelectedTensor& t);

  QLabel* note_;
  HeatmapPanel* query_;
  HeatmapPanel* key_;
  HeatmapPanel* matrix_;
  PairArranger* pair_;  ///< query and key panels
  QThreadPool* pool_;   ///< one thread: renders run one at a time, in order
  std::shared_ptr<AttentionCache> cache_;  ///< touched only by the render thread
  std::optional<AttentionRenderRequest> pending_;
  bool inFlight_ = false;
  uint64_t serial_ = 0;  ///< of the newest request (or on-demand show); older frames are dropped
  std::thread::id lastThread_;
};

}  // namespace fl::ui
