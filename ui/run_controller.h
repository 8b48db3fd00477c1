#pragma once
// Runs modules, and attention rows on demand, on one worker thread so the window never
// waits on LibTorch. Requests carry increasing ids; only the newest request's result reaches
// the document (older ones are stale and dropped). While the worker is busy, new requests
// coalesce: the latest one starts when the worker is free.
//
// Cancel is honest about what it can do: LibTorch cannot stop a forward midway, so a cancelled
// run keeps the worker busy until it ends; its result is then dropped and the previous
// result stays. Pending requests are forgotten at once.
#include <QFutureWatcher>
#include <QObject>
#include <QThreadPool>
#include <QTimer>
#include <optional>

#include "core/run/attention_query.h"
#include "core/run/run.h"
#include "ui/document.h"

namespace fl::ui {

/// What the worker hands back for a run: the result, its request, and the measured peak.
struct RunOutcome {
  RunResult result;
  ResultContext context;
  uint64_t revision = 0;  ///< the document's revision the request was made at
};

class RunController : public QObject {
  Q_OBJECT
 public:
  RunController(Document* document, QObject* parent = nullptr);
  ~RunController() override;

  /// Re-run automatically (debounced) whenever the document's request changes.
  void setAutoRun(bool on) { autoRun_ = on; }
  /// The worker is computing a run or attention rows.
  bool busy() const { return watcher_.isRunning() || queryWatcher_.isRunning(); }
  /// A cancelled run is still finishing on the worker (its result will be dropped).
  bool isCancelling() const { return watcher_.isRunning() && runningId_ <= cancelledUpTo_; }
  uint64_t latestRequestId() const { return nextId_ - 1; }
  /// Blocks until the worker is idle (tests, shutdown).
  void waitForIdle();

 public Q_SLOTS:
  /// Snapshots the document and schedules a run (if the document is ready).
  void runNow();
  /// Forgets pending requests and drops the results of the running ones.
  void cancel();

 Q_SIGNALS:
  void started(uint64_t requestId);
  void finished(uint64_t requestId, bool ok, double milliseconds);
  void staleDropped(uint64_t requestId);
  /// Cancel was asked while run `requestId` computes: it ends on its own, then is dropped.
  void cancelling(uint64_t requestId);
  void busyChanged(bool busy);
  /// Attention rows of query pixel (x, y) started / arrived (ok or with an error).
  void queryStarted(int x, int y);
  void queryFinished(int x, int y, bool ok, double milliseconds);

 private:
  struct QueryJob {
    uint64_t id = 0;
    int x = -1, y = -1;
    RunRequest request;  ///< the shown result's request
  };
  void startNext();
  void onFinished();
  void onQueryWanted(int x, int y);
  void startNextQuery();
  void onQueryFinished();
  void updateBusy();

  Document* document_;
  // One thread: runs and attention rows never overlap (both seed the global generator
  // before building the module, and two forwards would only compete for the cores).
  QThreadPool pool_;
  QFutureWatcher<RunOutcome> watcher_;
  QFutureWatcher<AttentionQueryResult> queryWatcher_;
  QTimer debounce_;
  std::optional<RunRequest> pending_;
  uint64_t pendingRevision_ = 0;
  std::optional<QueryJob> pendingQuery_;
  uint64_t nextId_ = 1;
  uint64_t runningId_ = 0;
  uint64_t cancelledUpTo_ = 0;
  uint64_t nextQueryId_ = 1;
  QueryJob runningQuery_;
  uint64_t cancelledQueriesUpTo_ = 0;
  bool autoRun_ = true;
  bool busy_ = false;
};

}  // namespace fl::ui
