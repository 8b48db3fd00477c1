#pragma once
// Runs modules, and attention rows on demand, as interactive jobs of the document's job
// service (ui/job_service.h) so the window never waits on LibTorch. Requests carry increasing
// ids; only the newest request's result reaches the document (older ones are stale and
// dropped). No debounce: a change of the request starts a run at once (queued on the worker
// before the change's handler returns). While a run computes, new requests coalesce: only the
// latest is kept and starts when the running one ends (exactly one more run, with the latest
// settings, however many changes came meanwhile), and the running one is asked to stop (a
// newer request supersedes it).
//
// Cancel is honest about what it can do: osra and cmgm stop between bands of query rows; other
// forwards cannot be stopped midway, so a cancelled run keeps the worker busy until it ends;
// its result is then dropped and the previous result stays. Pending requests are forgotten at
// once. Long runs report their progress (fraction done, time left) for the busy bar.
#include <QObject>
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
  /// Cancels its jobs; never waits for them.
  ~RunController() override;

  /// Re-run automatically whenever the document's request changes (coalesced, see above).
  void setAutoRun(bool on) { autoRun_ = on; }
  /// A run or attention rows are computing (or their result is on its way to the document).
  bool busy() const { return runJob_ != 0 || queryJob_ != 0; }
  /// A cancelled run is still finishing on the worker (its result will be dropped).
  bool isCancelling() const { return runJob_ != 0 && runningId_ <= cancelledUpTo_; }
  uint64_t latestRequestId() const { return nextId_ - 1; }
  /// Blocks until its jobs left the worker (tests, shutdown); forgets pending requests.
  void waitForIdle();

 public Q_SLOTS:
  /// Snapshots the document and schedules a run (if the document is ready).
  void runNow();
  /// Forgets pending requests and stops the running ones (between bands of query rows where
  /// the module works in bands; else their results are dropped when they end).
  void cancel();

 Q_SIGNALS:
  void started(uint64_t requestId);
  void finished(uint64_t requestId, bool ok, double milliseconds);
  void staleDropped(uint64_t requestId);
  /// Cancel was asked while run `requestId` computes: it stops or ends, then is dropped.
  void cancelling(uint64_t requestId);
  void busyChanged(bool busy);
  /// Progress of the running run `requestId` (osra and cmgm in query bands): `fraction` in
  /// [0, 1], `etaSeconds` the time left (< 0 unknown).
  void progress(uint64_t requestId, double fraction, double etaSeconds);
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
  void onFinished(RunOutcome out);
  void onQueryWanted(int x, int y);
  void startNextQuery();
  void onQueryFinished(AttentionQueryResult r);
  void updateBusy();

  Document* document_;
  std::optional<RunRequest> pending_;
  uint64_t pendingRevision_ = 0;
  std::optional<QueryJob> pendingQuery_;
  uint64_t runJob_ = 0;    ///< job id of the run on the worker; 0 none
  uint64_t queryJob_ = 0;  ///< job id of the attention rows on the worker; 0 none
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
