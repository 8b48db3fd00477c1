// The job service (ui/job_service.h): one worker for all LibTorch work, priorities, queued
// jobs cancelled, results on the GUI thread, each job's own peak memory, receivers that die.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <QCoreApplication>
#include <QSignalSpy>
#include <QThread>
#include <QtTest/QtTest>
#include <atomic>
#include <thread>

#include "test_registry.h"
#include "core/common/versions.h"
#include "ui/job_service.h"

using namespace fl;
using namespace fl::ui;

namespace {

/// A job that holds the worker until `open` is set (so others queue up behind it).
uint64_t gate(JobService& jobs, QObject* receiver, std::atomic<bool>& open, std::atomic<bool>& entered) {
  return jobs.submit<int>(
      JobPriority::Interactive, receiver,
      [&open, &entered](JobContext&) {
        entered = true;
        while (!open) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        return 0;
      },
      [](int&&, const JobReport&) {});
}

void waitUntil(const std::atomic<bool>& flag) {
  while (!flag) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

}  // namespace

class JobsTest : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void prioritiesThenOrderOfSubmission() {
    JobService jobs;
    QObject receiver;
    std::atomic<bool> open{false}, entered{false};
    gate(jobs, &receiver, open, entered);
    waitUntil(entered);
    std::vector<int> ran;  // written on the worker, one job at a time; read after they ended
    std::vector<int> delivered;
    const auto job = [&](JobPriority p, int tag) {
      return jobs.submit<int>(
          p, &receiver, [&ran, tag](JobContext&) { ran.push_back(tag); return tag; },
          [&delivered](int&& t, const JobReport&) { delivered.push_back(t); });
    };
    job(JobPriority::Background, 1);   // a load
    job(JobPriority::Compare, 2);      // a compare column
    job(JobPriority::Background, 3);   // another load: after the first
    job(JobPriority::Interactive, 4);  // a run: first of all
    job(JobPriority::Compare, 5);
    open = true;
    QTRY_VERIFY_WITH_TIMEOUT(!jobs.busy(), 20000);
    QCOMPARE(ran, (std::vector<int>{4, 2, 5, 1, 3}));
    QCOMPARE(delivered, ran);
  }

  void queuedJobsAreCancelledAndNeverRun() {
    JobService jobs;
    QObject receiver;
    std::atomic<bool> open{false}, entered{false};
    gate(jobs, &receiver, open, entered);
    waitUntil(entered);
    std::atomic<int> ran{0};
    int delivered = 0;
    const uint64_t id = jobs.submit<int>(
        JobPriority::Background, &receiver, [&ran](JobContext&) { return ++ran; },
        [&delivered](int&&, const JobReport&) { ++delivered; });
    QSignalSpy ended(&jobs, &JobService::jobEnded);
    QVERIFY(jobs.isActive(id));
    QVERIFY(jobs.cancel(id));
    QVERIFY(!jobs.isActive(id));
    QCOMPARE(ended.size(), 1);
    QCOMPARE(ended.front().front().toULongLong(), id);
    open = true;
    QTRY_VERIFY_WITH_TIMEOUT(!jobs.busy(), 20000);
    QCOMPARE(ran.load(), 0);
    QCOMPARE(delivered, 0);
    QVERIFY(!jobs.cancel(id));  // ended: nothing to cancel
  }

  void aRunningRunStopsAndIsDeliveredCancelled() {
    JobService jobs;
    QObject receiver;
    std::atomic<bool> started{false};
    bool cancelledSeen = false;
    ErrorKind kind = ErrorKind::Internal;
    // A job that works in pieces (as osra's and cmgm's bands do) and checks between them.
    const uint64_t id = jobs.submit<RunResult>(
        JobPriority::Interactive, &receiver,
        [&started](JobContext& ctx) {
          started = true;
          RunResult r;
          try {
            for (;;) {
              ctx.checkCancelled();
              std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
          } catch (const Error& e) {
            r.errorKind = e.kind();
          }
          return r;
        },
        [&](RunResult&& r, const JobReport& report) {
          cancelledSeen = report.cancelled;
          kind = r.errorKind;
        });
    waitUntil(started);
    QVERIFY(jobs.running());
    QVERIFY(jobs.cancel(id));
    QVERIFY(jobs.isActive(id));  // still delivered once it stopped
    QTRY_VERIFY_WITH_TIMEOUT(!jobs.isActive(id), 20000);
    QVERIFY(cancelledSeen);
    QCOMPARE(kind, ErrorKind::Cancelled);
  }

  void resultsArriveOnTheGuiThread() {
    JobService jobs;
    QObject receiver;
    QThread* worker = nullptr;
    QThread* deliveredOn = nullptr;
    jobs.submit<int>(
        JobPriority::Background, &receiver, [&worker](JobContext&) { worker = QThread::currentThread(); return 1; },
        [&deliveredOn](int&&, const JobReport&) { deliveredOn = QThread::currentThread(); });
    QTRY_VERIFY_WITH_TIMEOUT(deliveredOn != nullptr, 20000);
    QCOMPARE(deliveredOn, QCoreApplication::instance()->thread());
    QVERIFY(worker != nullptr && worker != deliveredOn);
  }

  void aDeadReceiverGetsNothing() {
    JobService jobs;
    auto* receiver = new QObject;
    std::atomic<bool> open{false}, entered{false};
    QObject keeper;
    gate(jobs, &keeper, open, entered);
    waitUntil(entered);
    bool delivered = false;
    const uint64_t id = jobs.submit<int>(
        JobPriority::Compare, receiver, [](JobContext&) { return 1; },
        [&delivered](int&&, const JobReport&) { delivered = true; });
    delete receiver;  // the panel that asked was closed
    open = true;
    QTRY_VERIFY_WITH_TIMEOUT(!jobs.isActive(id), 20000);
    QVERIFY(!delivered);
  }

  // Peak memory is the job's own: memory another thread holds meanwhile does not count
  // (the old measure, the process's VmHWM, counted it).
  void peakMemoryIsTheJobsOwn() {
    JobService jobs;
    QObject receiver;
    std::atomic<bool> othersHold{false}, jobDone{false};
    int64_t peak = -1;
    std::thread other([&] {
      at::Tensor big = at::ones({64, 1000, 1000});  // 256 MB held by someone else
      othersHold = true;
      waitUntil(jobDone);
    });
    waitUntil(othersHold);
    jobs.submit<int64_t>(
        JobPriority::Interactive, &receiver,
        [](JobContext&) {
          at::Tensor mine = at::ones({1000, 1000});  // 4 MB
          return mine.numel();
        },
        [&](int64_t&&, const JobReport& report) {
          peak = report.peakBytes;
          jobDone = true;
        });
    QTRY_VERIFY_WITH_TIMEOUT(jobDone, 20000);
    other.join();
    QVERIFY2(peak >= 4000000 && peak < 64000000, qPrintable(QString::number(peak)));
  }

  // Module runs go through the context (cancel flag, progress) and are counted.
  void runsAreCountedAndStoppedBeforeTheyStart() {
    JobService jobs;
    QObject receiver;
    std::atomic<bool> open{false}, entered{false};
    gate(jobs, &receiver, open, entered);
    waitUntil(entered);
    RunRequest req;
    req.moduleId = "eca";
    req.inputs = {at::randn({1, 8, 6, 6})};
    std::vector<bool> ok;
    const auto submitRun = [&] {
      return jobs.submit<RunResult>(
          JobPriority::Interactive, &receiver, [req](JobContext& ctx) { return ctx.run(test::registry(), req); },
          [&ok](RunResult&& r, const JobReport&) { ok.push_back(r.ok); });
    };
    submitRun();
    const uint64_t stopped = submitRun();
    QVERIFY(jobs.stop(stopped));  // still starts, and is delivered, but runs nothing
    open = true;
    QTRY_VERIFY_WITH_TIMEOUT(!jobs.busy(), 20000);
    QCOMPARE(ok, (std::vector<bool>{true, false}));
    QCOMPARE(jobs.moduleRuns(), int64_t{1});
  }

  // The GUI's LibTorch work runs with as many threads as the machine has cores (issue 15,
  // item 3), even when something set fewer before the service started (LibTorch's OpenMP
  // count is per thread: the worker would otherwise inherit the last value set anywhere).
  void workerRunsOnEveryCore() {
    QCOMPARE(JobService::workerThreads(), hardwareThreads());
    at::set_num_threads(1);
    JobService jobs;
    QObject receiver;
    int seen = 0;
    jobs.submit<int>(
        JobPriority::Interactive, &receiver, [](JobContext&) { return at::get_num_threads(); },
        [&seen](int&& n, const JobReport&) { seen = n; });
    QTRY_VERIFY_WITH_TIMEOUT(!jobs.busy(), 20000);
    QCOMPARE(seen, hardwareThreads());
  }
};

QTEST_MAIN(JobsTest)
#include "test_jobs.moc"
