#pragma once
// Runs modules on one worker thread so the window never waits on LibTorch.
// Requests carry increasing ids; only the newest request's result reaches the document
// (older ones are stale and dropped). While a run is busy, new requests coalesce: the
// latest one starts when the worker is free.
#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QObject>
#include <QTimer>
#include <optional>

#include "core/run/run.h"

namespace fl::ui {

class Document;

class RunController : public QObject {
  Q_OBJECT
 public:
  RunController(Document* document, QObject* parent = nullptr);
  ~RunController() override;

  /// Re-run automatically (debounced) whenever the document's request changes.
  void setAutoRun(bool on) { autoRun_ = on; }
  bool busy() const { return watcher_.isRunning(); }
  uint64_t latestRequestId() const { return nextId_ - 1; }
  /// Blocks until the worker is idle (tests, shutdown).
  void waitForIdle();

 public Q_SLOTS:
  /// Snapshots the document and schedules a run (if the document is ready).
  void runNow();
  /// Drops the running and pending requests: their results will be ignored.
  void cancel();

 Q_SIGNALS:
  void started(uint64_t requestId);
  void finished(uint64_t requestId, bool ok, double milliseconds);
  void staleDropped(uint64_t requestId);
  void busyChanged(bool busy);

 private:
  void startNext();
  void onFinished();

  Document* document_;
  QFutureWatcher<RunResult> watcher_;
  QTimer debounce_;
  std::optional<RunRequest> pending_;
  uint64_t nextId_ = 1;
  uint64_t runningId_ = 0;
  uint64_t cancelledUpTo_ = 0;
  bool autoRun_ = true;
};

}  // namespace fl::ui
