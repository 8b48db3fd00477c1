#include "ui/run_controller.h"

#include <QtConcurrent/QtConcurrentRun>

#include "ui/document.h"

namespace fl::ui {

RunController::RunController(Document* document, QObject* parent)
    : QObject(parent), document_(document) {
  debounce_.setSingleShot(true);
  debounce_.setInterval(150);  // parameter spin boxes emit several changes per second
  connect(&debounce_, &QTimer::timeout, this, &RunController::runNow);
  connect(document_, &Document::requestChanged, this, [this] {
    if (autoRun_) debounce_.start();
  });
  connect(&watcher_, &QFutureWatcher<RunResult>::finished, this, &RunController::onFinished);
}

RunController::~RunController() { waitForIdle(); }

void RunController::waitForIdle() {
  pending_.reset();
  watcher_.waitForFinished();
}

void RunController::runNow() {
  debounce_.stop();
  const QString why = document_->readiness();
  if (!why.isEmpty()) {
    document_->setRunError(why);
    return;
  }
  pending_ = document_->makeRequest(nextId_++);
  if (!watcher_.isRunning()) startNext();
}

void RunController::cancel() {
  debounce_.stop();
  pending_.reset();
  cancelledUpTo_ = nextId_ - 1;
}

void RunController::startNext() {
  if (!pending_) return;
  RunRequest req = std::move(*pending_);
  pending_.reset();
  runningId_ = req.requestId;
  const ModuleRegistry* registry = &document_->registry();
  Q_EMIT started(runningId_);
  Q_EMIT busyChanged(true);
  // The request is a snapshot: the worker never touches the document or any widget.
  watcher_.setFuture(QtConcurrent::run([registry, req = std::move(req)] { return run(*registry, req); }));
}

void RunController::onFinished() {
  RunResult res = watcher_.result();
  const uint64_t id = res.requestId;
  const bool stale = id <= cancelledUpTo_ || (pending_ && pending_->requestId > id);
  if (stale) {
    Q_EMIT staleDropped(id);
  } else {
    Q_EMIT finished(id, res.ok, res.totalMs);
    if (res.ok) {
      document_->setResult(std::move(res));
    } else {
      document_->setRunError(QString::fromStdString(res.error));
    }
  }
  if (pending_) {
    startNext();
  } else {
    Q_EMIT busyChanged(false);
  }
}

}  // namespace fl::ui
