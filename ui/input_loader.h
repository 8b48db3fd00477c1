#pragma once
// Opens images and tensor files off the GUI thread (decoding, feature extraction and
// TorchScript backbones can take a while) as background jobs of the job service; results
// arrive as signals, in the order the files were asked for (one worker, FIFO).
#include <QObject>
#include <functional>
#include <optional>
#include <vector>
#include <QStringList>

#include "ui/document.h"

namespace fl::ui {

struct LoadOutcome {
  bool ok = false;
  InputItem item;
  QString error;
  QStringList warnings;
};

/// Synchronous: loads one file (an image through `featureSpec`, or a tensor file).
LoadOutcome loadInputFile(const QString& path, const QString& featureSpec);

class JobService;

class InputLoader : public QObject {
  Q_OBJECT
 public:
  /// `jobs` may be set later (MainWindow gives it the document's).
  explicit InputLoader(JobService* jobs = nullptr, QObject* parent = nullptr);
  /// Drops its queued loads; never waits for one that runs.
  ~InputLoader() override;
  void setJobService(JobService* jobs) { jobs_ = jobs; }
  void load(const QStringList& paths, const QString& featureSpec);
  /// Starts loading `paths` now, before anything asks for them: the app's start loads the
  /// images on its command line while the window is being built. The next load() of the same
  /// paths with the same spec takes this job over (delivered once, as its own load); a load()
  /// of anything else, or discardPending(), drops it.
  void prefetch(const QStringList& paths, const QString& featureSpec);
  bool busy() const { return !jobs_ids_.empty(); }
  /// Blocks until its loads left the worker (tests and shutdown only).
  void waitForIdle();
  /// Files still loading will not be delivered (a session is being opened instead): queued
  /// loads are dropped, a running one stops between files.
  void discardPending();

 Q_SIGNALS:
  /// The outcomes of one load() call, in the order given (files opened together).
  void loaded(const QList<fl::ui::LoadOutcome>& batch);

 private:
  /// Submits one background job loading `paths`; `done` gets its outcomes on the GUI thread.
  uint64_t submit(const QStringList& paths, const QString& featureSpec,
                  std::function<void(QList<LoadOutcome>&&, bool cancelled)> done);
  /// The prefetched job, not yet taken over (claimed = false) or taken over and still loading.
  struct Prefetch {
    uint64_t id = 0;     ///< its job
    uint64_t token = 0;  ///< tells its delivery from that of a prefetch dropped before
    QStringList paths;
    QString spec;
    bool claimed = false;
    bool done = false;
    QList<LoadOutcome> batch;  ///< finished before it was claimed
  };
  void dropPrefetch();

  JobService* jobs_ = nullptr;
  std::optional<Prefetch> prefetch_;
  JobService* connectedTo_ = nullptr;
  std::vector<uint64_t> jobs_ids_;  ///< its loads on the worker, oldest first
  uint64_t epoch_ = 0;
  uint64_t prefetchToken_ = 0;
};

}  // namespace fl::ui
