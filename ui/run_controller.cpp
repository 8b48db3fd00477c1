#include "ui/run_controller.h"

#include "ui/job_service.h"
#include "ui/timing.h"

namespace fl::ui {

RunController::RunController(Document* document, QObject* parent)
    : QObject(parent), document_(document) {
  // An automatic re-run of a document that cannot run yet (no input open: the start, the demo
  // while its image loads) is no failure: the Module dock already says what is missing. Only
  // an explicit Run now reports it. No timer in front: a run that takes 10 ms shows its
  // picture 10 ms after the change; a burst of changes during a run coalesces in runNow().
  connect(document_, &Document::requestChanged, this, [this] {
    if (autoRun_ && document_->readiness().isEmpty()) runNow();
  });
  connect(document_, &Document::queryRowsWanted, this, &RunController::onQueryWanted);
  connect(document_->jobs(), &JobService::progress, this, [this](uint64_t job, double fraction, double eta) {
    if (job == runJob_ && runJob_ != 0 && !isCancelling()) Q_EMIT progress(runningId_, fraction, eta);
  });
}

RunController::~RunController() {
  pending_.reset();
  pendingQuery_.reset();
  if (runJob_) document_->jobs()->cancel(runJob_);
  if (queryJob_) document_->jobs()->cancel(queryJob_);
}

void RunController::waitForIdle() {
  pending_.reset();
  pendingQuery_.reset();
  document_->jobs()->waitFor({runJob_, queryJob_});
}

void RunController::updateBusy() {
  if (busy() == busy_) return;
  busy_ = busy();
  Q_EMIT busyChanged(busy_);
}

void RunController::runNow() {
  const QString why = document_->readiness();
  if (!why.isEmpty()) {
    document_->setRunError(why);
    return;
  }
  pending_ = document_->makeRequest(nextId_++);
  pendingRevision_ = document_->revision();
  if (runJob_ == 0) {
    startNext();
  } else {
    // The running request is superseded: osra and cmgm stop at their next band of rows.
    document_->jobs()->stop(runJob_);
  }
}

void RunController::cancel() {
  pending_.reset();
  pendingQuery_.reset();
  cancelledUpTo_ = nextId_ - 1;
  cancelledQueriesUpTo_ = nextQueryId_ - 1;
  // stop, not cancel: the jobs are still delivered (and dropped), so busy() stays true until
  // the worker really is free of them.
  if (runJob_) {
    document_->jobs()->stop(runJob_);
    Q_EMIT cancelling(runningId_);
  }
  if (queryJob_) {
    document_->jobs()->stop(queryJob_);
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
  timingMark("run submitted");
  // The request is a snapshot: the worker never touches the document or any widget.
  runJob_ = document_->jobs()->submit<RunOutcome>(
      JobPriority::Interactive, this,
      [registry, revision, req = std::move(req)](JobContext& ctx) {
        RunOutcome out;
        out.revision = revision;
        timingMark("run started (worker)");
        out.result = ctx.run(*registry, req);
        timingMark("run ended (worker)");
        out.context.request = req;
        return out;
      },
      [this](RunOutcome&& out, const JobReport& report) {
        out.context.peakBytes = report.peakBytes;  // this job's own tensors, not the process's
        runJob_ = 0;
        onFinished(std::move(out));
      });
  updateBusy();
}

void RunController::onFinished(RunOutcome out) {
  timingMark("run delivered (GUI thread)");
  const uint64_t id = out.result.requestId;
  // Stale: cancelled, superseded by a newer request, or made before the document changed
  // (another module, parameters, inputs or a restored session: it would be drawn wrongly).
  const bool stale = id <= cancelledUpTo_ || id < latestRequestId() || out.revision != document_->revision() ||
                     out.result.errorKind == ErrorKind::Cancelled;
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
  if (runJob_ == 0 && queryJob_ == 0) startNextQuery();
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
  // Runs go first: a query queued behind a run waits for it.
  if (queryJob_ == 0 && runJob_ == 0) startNextQuery();
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
  queryJob_ = document_->jobs()->submit<AttentionQueryResult>(
      JobPriority::Interactive, this,
      [registry, req = runningQuery_.request, flat](JobContext& ctx) {
        return ctx.attentionQuery(*registry, req, {flat});
      },
      [this](AttentionQueryResult&& r, const JobReport&) {
        queryJob_ = 0;
        onQueryFinished(std::move(r));
      });
  updateBusy();
}

void RunController::onQueryFinished(AttentionQueryResult r) {
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
  if (runJob_ == 0) startNextQuery();
  updateBusy();
}

}  // namespace fl::ui
