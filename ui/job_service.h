#pragma once
// One service for all LibTorch work of the window (architecture.md, "Running work"): runs,
// attention rows, compare columns, weights matching, input loading and session restore are
// jobs on one worker thread. One thread, because LibTorch already spreads one forward over
// every core (two forwards side by side only compete; the worker sets LibTorch's threads to
// the machine's cores, as the CLI's --threads default does) and because module builds draw from
// LibTorch's one global generator (core/modules/registry.h): one at a time keeps a seed's
// weights the same whoever else is working.
//
// Jobs have ids and priorities: interactive runs (and attention rows) before compare columns
// before background loads; FIFO within a priority, so loads finish in the order asked for. A
// queued job can be cancelled (it never runs); a running one gets its cancel flag set, which
// core::run() honours between pieces of work (osra's and cmgm's query bands) and after the
// forward. Each job's peak memory is measured inside core for that job alone
// (core/run/memory_meter.h). Results are delivered on the GUI thread, to a receiver that is
// still alive; the GUI thread never waits on the worker (waitFor() is for tests and shutdown).
#include <QObject>
#include <QPointer>
#include <QSet>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/run/attention_query.h"
#include "core/run/run.h"

namespace fl::ui {

/// Lower runs first.
enum class JobPriority { Interactive = 0, Compare = 1, Background = 2 };

/// What the GUI thread learns about a job that ran.
struct JobReport {
  uint64_t id = 0;
  bool cancelled = false;  ///< cancel() reached it while it ran
  /// Peak tensor memory of this job alone, bytes (MemoryMeter: tensors allocated on the
  /// worker thread during the job, CPU and CUDA); never the process's RSS.
  int64_t peakBytes = 0;
  double seconds = 0;  ///< wall time on the worker
};

class JobService;

/// A job's view of itself, on the worker thread.
class JobContext {
 public:
  uint64_t id() const { return id_; }
  bool cancelled() const { return cancel_->load(); }
  const std::atomic<bool>* cancelFlag() const { return cancel_; }
  /// Throws fl::Error(Cancelled) once the job is cancelled (call it between pieces of work).
  void checkCancelled() const;
  /// core::run() with this job's cancel flag, progress and time estimate; counted in
  /// JobService::moduleRuns().
  RunResult run(const ModuleRegistry& registry, RunRequest request);
  /// core::attentionQuery() the same way (it builds and runs the module too).
  AttentionQueryResult attentionQuery(const ModuleRegistry& registry, RunRequest request,
                                      const std::vector<int64_t>& queries);
  /// This job's progress in [0, 1]; the GUI gets it (at most every 100 ms, and the end) as
  /// JobService::progress, with the time left estimated from the rate so far (or, before any
  /// progress, from the run's time estimate).
  void reportProgress(double fraction);

 private:
  friend class JobService;
  JobContext(JobService* service, uint64_t id, const std::atomic<bool>* cancel)
      : service_(service), id_(id), cancel_(cancel) {}
  JobService* service_;
  uint64_t id_;
  const std::atomic<bool>* cancel_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point lastReport_{};
  double estimatedSeconds_ = -1;  ///< from the run's estimate, until progress arrives
};

class JobService : public QObject {
  Q_OBJECT
 public:
  explicit JobService(QObject* parent = nullptr);
  /// LibTorch intra-op threads the worker runs its jobs with: the cores this process may use
  /// (fl::hardwareThreads()), whatever another thread or OMP_NUM_THREADS set before.
  static int workerThreads();
  /// Cancels every job, then waits for the one running (tests; the app exits without
  /// waiting when a job still runs at quit, see app/gui_main.cpp).
  ~JobService() override;

  /// Queues `work` (run on the worker) and returns its id. `done` is called on the GUI thread
  /// with the result and report once the job ran, unless `receiver` was destroyed meanwhile
  /// or the job was cancelled before it started.
  template <typename R>
  uint64_t submit(JobPriority priority, QObject* receiver, std::function<R(JobContext&)> work,
                  std::function<void(R&&, const JobReport&)> done) {
    return enqueue(priority, receiver,
                   [work = std::move(work), done = std::move(done)](JobContext& ctx) -> Delivery {
                     auto result = std::make_shared<R>(work(ctx));
                     return [result, done](const JobReport& report) { done(std::move(*result), report); };
                   });
  }

  /// A queued job is dropped (it never runs, its `done` is never called); a running one is
  /// asked to stop (its cancel flag) and is delivered with report.cancelled. False when the
  /// job has already ended.
  bool cancel(uint64_t id);
  /// Asks a queued or running job to stop without dropping it: it still starts (a run then
  /// returns a Cancelled error at once), ends early where its work allows, and is delivered
  /// with report.cancelled. For callers that want every job they submitted delivered.
  bool stop(uint64_t id);
  /// Cancels every job.
  void cancelAll();
  /// Submitted and not yet delivered (or dropped).
  bool isActive(uint64_t id) const { return active_.contains(id); }
  /// Any job active.
  bool busy() const { return !active_.isEmpty(); }
  /// A job is running on the worker now (at quit: the app does not wait for it).
  bool running() const;
  /// Modules run so far (JobContext::run and attentionQuery): tests count them.
  int64_t moduleRuns() const { return moduleRuns_.load(); }

  /// Blocks until none of `ids` is queued or running on the worker (delivery still goes
  /// through the event loop). Tests and shutdown only: the GUI never waits on a job.
  void waitFor(const std::vector<uint64_t>& ids);

 Q_SIGNALS:
  /// Progress of a running job (JobContext::reportProgress), on the GUI thread.
  /// `etaSeconds` < 0: not known yet.
  void progress(uint64_t id, double fraction, double etaSeconds);
  /// A job ended: delivered, dropped because its receiver is gone, or cancelled while queued.
  void jobEnded(uint64_t id);
  void busyChanged(bool busy);

 private:
  friend class JobContext;
  using Delivery = std::function<void(const JobReport&)>;
  struct Job {
    uint64_t id = 0;
    JobPriority priority = JobPriority::Background;
    std::function<Delivery(JobContext&)> work;
    std::atomic<bool> cancel{false};
  };

  uint64_t enqueue(JobPriority priority, QObject* receiver, std::function<Delivery(JobContext&)> work);
  void workerLoop();
  void finish(uint64_t id, const Delivery& delivery, const JobReport& report);
  void setActive(uint64_t id, bool active);

  // Worker side, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable wake_;     ///< the worker: a job was queued, or stop
  std::condition_variable settled_;  ///< waitFor(): a job left the worker
  std::vector<std::shared_ptr<Job>> queue_;
  std::shared_ptr<Job> running_;
  bool stop_ = false;
  std::atomic<int64_t> moduleRuns_{0};
  std::thread worker_;

  // GUI side.
  uint64_t nextId_ = 1;
  QSet<uint64_t> active_;
  std::map<uint64_t, QPointer<QObject>> receivers_;
  bool busy_ = false;
};

}  // namespace fl::ui
