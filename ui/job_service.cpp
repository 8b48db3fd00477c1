#include "ui/job_service.h"

#include <ATen/Parallel.h>

#include <QMetaObject>
#include <algorithm>
#include <cstdio>
#include <exception>

#include "core/common/error.h"
#include "core/common/versions.h"
#include "core/run/estimate.h"
#include "core/run/memory_meter.h"

namespace fl::ui {

using Clock = std::chrono::steady_clock;

void JobContext::checkCancelled() const {
  if (cancelled()) throw Error(ErrorKind::Cancelled, "cancelled");
}

namespace {

/// The result of a request stopped before it started (RunResult, AttentionQueryResult):
/// nothing was computed.
template <typename Result>
Result cancelledResult(const RunRequest& request) {
  Result r;
  r.requestId = request.requestId;
  r.moduleId = request.moduleId;
  r.errorKind = ErrorKind::Cancelled;
  r.error = request.moduleId + ": cancelled";
  return r;
}

}  // namespace

RunResult JobContext::run(const ModuleRegistry& registry, RunRequest request) {
  if (cancelled()) return cancelledResult<RunResult>(request);
  ++service_->moduleRuns_;
  request.cancel = cancel_;
  auto estimate = std::move(request.onEstimate);
  request.onEstimate = [this, estimate](const RunEstimate& e) {
    estimatedSeconds_ = e.seconds;
    if (estimate) estimate(e);
  };
  auto progressHook = std::move(request.onProgress);
  request.onProgress = [this, progressHook](const progress::Update& u) {
    reportProgress(u.fraction);
    if (progressHook) progressHook(u);
  };
  return fl::run(registry, request);
}

AttentionQueryResult JobContext::attentionQuery(const ModuleRegistry& registry, RunRequest request,
                                                const std::vector<int64_t>& queries) {
  if (cancelled()) return cancelledResult<AttentionQueryResult>(request);
  ++service_->moduleRuns_;
  request.cancel = cancel_;
  return fl::attentionQuery(registry, request, queries);
}

void JobContext::reportProgress(double fraction) {
  const Clock::time_point now = Clock::now();
  fraction = std::clamp(fraction, 0.0, 1.0);
  // Throttled: a band of query rows can take a millisecond; the bar needs a few updates a second.
  if (fraction < 1 && now - lastReport_ < std::chrono::milliseconds(100)) return;
  lastReport_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  double eta = -1;
  if (fraction >= 0.02) {
    eta = elapsed * (1 - fraction) / fraction;  // the rate measured so far
  } else if (estimatedSeconds_ >= 0) {
    eta = std::max(0.0, estimatedSeconds_ - elapsed);  // the estimate, until the rate is known
  }
  JobService* service = service_;
  const uint64_t id = id_;
  QMetaObject::invokeMethod(
      service, [service, id, fraction, eta] { Q_EMIT service->progress(id, fraction, eta); },
      Qt::QueuedConnection);
}

int JobService::workerThreads() { return hardwareThreads(); }

JobService::JobService(QObject* parent) : QObject(parent) {
  worker_ = std::thread([this] {
    // LibTorch's OpenMP thread count is per calling thread: a new thread starts from whatever
    // was set last in the process (or OMP_NUM_THREADS), so the worker sets its own.
    at::set_num_threads(workerThreads());
    workerLoop();
  });
}

JobService::~JobService() {
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    queue_.clear();
    if (running_) running_->cancel = true;
    stop_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

uint64_t JobService::enqueue(JobPriority priority, QObject* receiver,
                             std::function<Delivery(JobContext&)> work) {
  auto job = std::make_shared<Job>();
  job->id = nextId_++;
  job->priority = priority;
  job->work = std::move(work);
  receivers_[job->id] = receiver;
  setActive(job->id, true);
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(job);
  }
  wake_.notify_one();
  return job->id;
}

bool JobService::cancel(uint64_t id) {
  if (!active_.contains(id)) return false;
  bool dropped = false;
  {
    const std::lock_guard<std::mutex> lock(mutex_);
    const auto it = std::find_if(queue_.begin(), queue_.end(), [id](const auto& j) { return j->id == id; });
    if (it != queue_.end()) {
      queue_.erase(it);
      dropped = true;
    } else if (running_ && running_->id == id) {
      running_->cancel = true;
    }
  }
  if (dropped) {
    settled_.notify_all();
    receivers_.erase(id);
    setActive(id, false);
    Q_EMIT jobEnded(id);
  }
  return true;
}

bool JobService::stop(uint64_t id) {
  if (!active_.contains(id)) return false;
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& j : queue_) {
    if (j->id == id) j->cancel = true;
  }
  if (running_ && running_->id == id) running_->cancel = true;
  return true;
}

void JobService::cancelAll() {
  const QList<uint64_t> ids = active_.values();
  for (const uint64_t id : ids) cancel(id);
}

bool JobService::running() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return running_ != nullptr;
}

void JobService::waitFor(const std::vector<uint64_t>& ids) {
  std::unique_lock<std::mutex> lock(mutex_);
  settled_.wait(lock, [&] {
    for (const uint64_t id : ids) {
      if (running_ && running_->id == id) return false;
      for (const auto& j : queue_) {
        if (j->id == id) return false;
      }
    }
    return true;
  });
}

void JobService::setActive(uint64_t id, bool active) {
  if (active) {
    active_.insert(id);
  } else {
    active_.remove(id);
  }
  if (busy() != busy_) {
    busy_ = busy();
    Q_EMIT busyChanged(busy_);
  }
}

void JobService::workerLoop() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      // The most urgent priority first; within one, the oldest (ids increase).
      const auto best = std::min_element(queue_.begin(), queue_.end(), [](const auto& a, const auto& b) {
        return std::make_pair(a->priority, a->id) < std::make_pair(b->priority, b->id);
      });
      job = *best;
      queue_.erase(best);
      running_ = job;
    }
    JobReport report;
    report.id = job->id;
    Delivery delivery;
    const Clock::time_point start = Clock::now();
    {
      JobContext ctx(this, job->id, &job->cancel);
      MemoryMeter meter;
      try {
        delivery = job->work(ctx);
      } catch (const std::exception& e) {
        // Jobs turn their failures into results; this is a bug, said once, and nothing is delivered.
        std::fprintf(stderr, "fusionlens: job %llu failed: %s\n", static_cast<unsigned long long>(job->id), e.what());
      }
      report.peakBytes = meter.peakBytes();
    }
    report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    report.cancelled = job->cancel.load();
    job->work = nullptr;  // what the job captured is freed here, on the worker
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      running_.reset();
    }
    settled_.notify_all();
    QMetaObject::invokeMethod(
        this, [this, delivery = std::move(delivery), report] { finish(report.id, delivery, report); },
        Qt::QueuedConnection);
  }
}

void JobService::finish(uint64_t id, const Delivery& delivery, const JobReport& report) {
  const auto it = receivers_.find(id);
  const bool receiverAlive = it != receivers_.end() && !it->second.isNull();
  if (it != receivers_.end()) receivers_.erase(it);
  if (!active_.contains(id)) return;
  // Bookkeeping first: the delivery may submit the next job and ask busy().
  active_.remove(id);
  if (receiverAlive && delivery) delivery(report);
  setActive(id, false);
  Q_EMIT jobEnded(id);
}

}  // namespace fl::ui
