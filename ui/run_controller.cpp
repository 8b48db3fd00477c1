#include "ui/run_controller.h"

#include <QtConcurrent/QtConcurrentRun>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <fstream>
#include <string>

#include "core/common/numbers.h"

namespace fl::ui {

namespace {

/// A "VmRSS:"-style line of /proc/self/status in bytes; -1 when unavailable (not Linux).
int64_t procStatusBytes(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, n, key) != 0) continue;
    // "VmRSS:	  123456 kB": the number between the spaces and the unit.
    const size_t start = line.find_first_not_of(" \t", n);
    const size_t end = start == std::string::npos ? start : line.find_first_not_of("0123456789", start);
    const auto kib = start == std::string::npos ? std::nullopt
                                                : toInteger(std::string_view(line).substr(start, end - start));
    return kib ? *kib * 1024 : -1;
  }
  return -1;
}

/// Resets the process's peak RSS (VmHWM) to its current RSS, so the peak after a run is the
/// run's own; false where the kernel does not offer it.
bool resetPeakRss() {
  std::FILE* f = std::fopen("/proc/self/clear_refs", "w");
  if (!f) return false;
  const bool ok = std::fputs("5", f) >= 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

RunController::RunController(Document* document, QObject* parent)
    : QObject(parent), document_(document) {
  pool_.setMaxThreadCount(1);
  debounce_.setSingleShot(true);
  debounce_.setInterval(150);  // parameter spin boxes emit several changes per second
  // An automatic re-run of a document that cannot run yet (no input open: the start, the demo
  // while its image loads) is no failure: the Module dock already says what is missing. Only
  // an explicit Run now reports it.
  connect(&debounce_, &QTimer::timeout, this, [this] {
    if (document_->readiness().isEmpty()) runNow();
  });
  connect(document_, &Document::requestChanged, this, [this] {
    if (autoRun_) debounce_.start();
  });
  connect(document_, &Document::queryRowsWanted, this, &RunController::onQueryWanted);
  connect(&watcher_, &QFutureWatcher<RunOutcome>::finished, this, &RunController::onFinished);
  connect(&queryWatcher_, &QFutureWatcher<AttentionQueryResult>::finished, this,
          &RunController::onQueryFinished);
}

RunController::~RunController() { waitForIdle(); }

void RunController::waitForIdle() {
  pending_.reset();
  pendingQuery_.reset();
  watcher_.waitForFinished();
  queryWatcher_.waitForFinished();
}

void RunController::updateBusy() {
  if (busy() == busy_) return;
  busy_ = busy();
  Q_EMIT busyChanged(busy_);
}

void RunController::runNow() {
  debounce_.stop();
  const QString why = document_->readiness();
  if (!why.isEmpty()) {
    document_->setRunError(why);
    return;
  }
  pending_ = document_->makeRequest(nextId_++);
  pendingRevision_ = document_->revision();
  if (!watcher_.isRunning()) startNext();
}

void RunController::cancel() {
  debounce_.stop();
  pending_.reset();
  pendingQuery_.reset();
  cancelledUpTo_ = nextId_ - 1;
  cancelledQueriesUpTo_ = nextQueryId_ - 1;
  if (watcher_.isRunning()) Q_EMIT cancelling(runningId_);
  if (queryWatcher_.isRunning()) {
    // Say so in the view now; the rows still being computed will be dropped.
    const QPoint wanted = document_->wantedQuery();
    const uint64_t resultId = document_->result() ? document_->result()->requestId : 0;
    document_->setQueryRows({resultId, wanted.x(), wanted.y(), {},
                             tr("Cancelled; click a query pixel to compute its row.")});
  }
}

void RunController::startNext() {
  if (!pending_) return;
  RunRequest req = std::move(*pending_);
  const uint64_t revision = pendingRevision_;
  pending_.reset();
  runningId_ = req.requestId;
  const ModuleRegistry* registry = &document_->registry();
  Q_EMIT started(runningId_);
  // The request is a snapshot: the worker never touches the document or any widget.
  watcher_.setFuture(QtConcurrent::run(&pool_, [registry, revision, req = std::move(req)] {
    RunOutcome out;
    out.revision = revision;
    const int64_t before = resetPeakRss() ? procStatusBytes("VmRSS:") : -1;
    out.result = run(*registry, req);
    const int64_t peak = before >= 0 ? procStatusBytes("VmHWM:") : -1;
    out.context.peakBytes = peak >= 0 ? std::max<int64_t>(0, peak - before) : -1;
    out.context.request = req;
    return out;
  }));
  updateBusy();
}

void RunController::onFinished() {
  RunOutcome out = watcher_.result();
  const uint64_t id = out.result.requestId;
  // Stale: cancelled, superseded by a newer request, or made before the document changed
  // (another module, parameters, inputs or a restored session: it would be drawn wrongly).
  const bool stale = id <= cancelledUpTo_ || (pending_ && pending_->requestId > id) ||
                     out.revision != document_->revision();
  if (stale) {
    Q_EMIT staleDropped(id);
  } else {
    Q_EMIT finished(id, out.result.ok, out.result.totalMs);
    if (out.result.ok) {
      document_->setResult(std::move(out.result), std::move(out.context));
    } else {
      document_->setRunError(out.result.failure());
    }
  }
  startNext();
  if (!watcher_.isRunning() && !queryWatcher_.isRunning()) startNextQuery();
  updateBusy();
}

void RunController::onQueryWanted(int x, int y) {
  const RunResult* res = document_->result();
  const ResultContext& ctx = document_->resultContext();
  if (!res || ctx.request.moduleId.empty() || ctx.request.inputs.empty()) {
    document_->setQueryRows({res ? res->requestId : 0, x, y, {},
                             tr("This result has no request to compute attention rows from; run the module again.")});
    return;
  }
  pendingQuery_ = QueryJob{nextQueryId_++, x, y, ctx.request};
  // Runs go first: a query queued behind a run waits for it (one worker).
  if (!queryWatcher_.isRunning() && !watcher_.isRunning()) startNextQuery();
}

void RunController::startNextQuery() {
  if (!pendingQuery_) return;
  // A query made for a result that has since been replaced is of no use.
  const RunResult* shown = document_->result();
  if (!shown || pendingQuery_->request.requestId != shown->requestId) {
    pendingQuery_.reset();
    return;
  }
  runningQuery_ = std::move(*pendingQuery_);
  pendingQuery_.reset();
  const ModuleRegistry* registry = &document_->registry();
  const int64_t w = runningQuery_.request.inputs[0].size(-1);
  const int64_t flat = static_cast<int64_t>(runningQuery_.y) * w + runningQuery_.x;
  Q_EMIT queryStarted(runningQuery_.x, runningQuery_.y);
  queryWatcher_.setFuture(QtConcurrent::run(&pool_, [registry, req = runningQuery_.request, flat] {
    return attentionQuery(*registry, req, {flat});
  }));
  updateBusy();
}

void RunController::onQueryFinished() {
  const AttentionQueryResult r = queryWatcher_.result();
  const QueryJob job = std::move(runningQuery_);
  runningQuery_ = {};
  const bool stale = job.id <= cancelledQueriesUpTo_ || pendingQuery_.has_value();
  if (!stale) {
    Q_EMIT queryFinished(job.x, job.y, r.ok, r.totalMs);
    QueryRows rows{r.requestId, job.x, job.y, {}, {}};
    if (r.ok) {
      rows.rows = r.rows.select(2, 0);  // [B, heads, 1, Nk] -> [B, heads, Nk]
    } else {
      rows.error = QString::fromStdString(r.error);
    }
    document_->setQueryRows(std::move(rows));  // the document drops rows of an older result
  }
  if (!watcher_.isRunning()) startNextQuery();
  updateBusy();
}

}  // namespace fl::ui
