#include "ui/input_loader.h"

#include <ATen/ATen.h>

#include <QFileInfo>
#include <QMetaObject>
#include <algorithm>

#include "core/common/error.h"
#include "core/features/features.h"
#include "core/io/image.h"
#include "core/io/tensor_file.h"
#include "ui/error_text.h"
#include "ui/job_service.h"
#include "ui/timing.h"

namespace fl::ui {

LoadOutcome loadInputFile(const QString& path, const QString& featureSpec) {
  LoadOutcome out;
  out.item.path = path;
  timingMark("input load started");
  try {
    const std::string p = path.toStdString();
    if (isImageFile(p)) {
      const FeatureSpec spec = parseFeatureSpec(featureSpec.toStdString());
      const Image image = readImage(p);
      for (const auto& w : image.warnings) out.warnings << QString::fromStdString(w);
      out.item.tensor = computeFeatures(image, spec);
      cv::Mat rgb8;
      image.rgb.convertTo(rgb8, CV_8UC3, 255.0);
      out.item.image = QImage(rgb8.data, rgb8.cols, rgb8.rows, static_cast<int>(rgb8.step),
                              QImage::Format_RGB888).copy();
      out.item.featureSpec = featureSpec;
      out.item.label = QFileInfo(path).fileName() + QStringLiteral(" via ") + featureSpec;
    } else {
      out.item.tensor = readInputTensor(p);
      out.item.label = QFileInfo(path).fileName();
    }
    out.ok = true;
    timingMark("input loaded");
  } catch (const Error& e) {
    out.error = guiText(e);
  } catch (const std::exception& e) {
    out.error = QStringLiteral("%1: %2").arg(path, QString::fromStdString(firstLine(e.what())));
  }
  return out;
}

InputLoader::InputLoader(JobService* jobs, QObject* parent) : QObject(parent), jobs_(jobs) {}

InputLoader::~InputLoader() {
  if (!jobs_) return;
  for (const uint64_t id : jobs_ids_) jobs_->cancel(id);
}

void InputLoader::waitForIdle() {
  if (jobs_) jobs_->waitFor(jobs_ids_);
}

void InputLoader::discardPending() {
  ++epoch_;
  prefetch_.reset();
  if (!jobs_) return;
  const std::vector<uint64_t> ids = jobs_ids_;
  for (const uint64_t id : ids) jobs_->cancel(id);
}

void InputLoader::dropPrefetch() {
  if (!prefetch_) return;
  const uint64_t id = prefetch_->id;
  prefetch_.reset();
  if (jobs_) jobs_->cancel(id);
}

uint64_t InputLoader::submit(const QStringList& paths, const QString& featureSpec,
                             std::function<void(QList<LoadOutcome>&&, bool)> done) {
  if (connectedTo_ != jobs_) {
    // Its ids leave the list when they end: delivered, or dropped before they ran.
    connect(jobs_, &JobService::jobEnded, this, [this](uint64_t id) {
      jobs_ids_.erase(std::remove(jobs_ids_.begin(), jobs_ids_.end(), id), jobs_ids_.end());
    });
    connectedTo_ = jobs_;
  }
  // One job per batch, loading in order, so inputs are assigned in the order they were chosen.
  const uint64_t id = jobs_->submit<QList<LoadOutcome>>(
      JobPriority::Background, this,
      [paths, featureSpec](JobContext& ctx) {
        QList<LoadOutcome> out;
        for (const QString& path : paths) {
          if (ctx.cancelled()) break;  // discarded: the rest is of no use
          out << loadInputFile(path, featureSpec);
        }
        return out;
      },
      [done = std::move(done)](QList<LoadOutcome>&& batch, const JobReport& report) {
        done(std::move(batch), report.cancelled);
      });
  jobs_ids_.push_back(id);
  return id;
}

void InputLoader::load(const QStringList& paths, const QString& featureSpec) {
  if (!jobs_) {
    QList<LoadOutcome> failed;
    for (const QString& path : paths) failed << LoadOutcome{false, {}, tr("%1: not opened (no worker)").arg(path), {}};
    Q_EMIT loaded(failed);
    return;
  }
  const uint64_t epoch = epoch_;
  if (prefetch_ && !prefetch_->claimed && prefetch_->paths == paths && prefetch_->spec == featureSpec) {
    if (!prefetch_->done) {
      prefetch_->claimed = true;  // its delivery emits loaded()
      return;
    }
    // Finished already: delivered from the event loop, like any load.
    QList<LoadOutcome> batch = std::move(prefetch_->batch);
    prefetch_.reset();
    QMetaObject::invokeMethod(
        this, [this, epoch, batch] { if (epoch == epoch_) Q_EMIT loaded(batch); }, Qt::QueuedConnection);
    return;
  }
  dropPrefetch();  // something else was asked for
  submit(paths, featureSpec, [this, epoch](QList<LoadOutcome>&& batch, bool cancelled) {
    if (epoch == epoch_ && !cancelled) Q_EMIT loaded(batch);
  });
}

void InputLoader::prefetch(const QStringList& paths, const QString& featureSpec) {
  if (!jobs_ || paths.isEmpty()) return;
  dropPrefetch();
  const uint64_t epoch = epoch_;
  const uint64_t token = ++prefetchToken_;
  const uint64_t id = submit(paths, featureSpec, [this, epoch, token](QList<LoadOutcome>&& batch, bool cancelled) {
    if (!prefetch_ || prefetch_->token != token) return;  // dropped meanwhile
    if (cancelled || epoch != epoch_) {
      prefetch_.reset();
      return;
    }
    if (prefetch_->claimed) {
      prefetch_.reset();
      Q_EMIT loaded(batch);
      return;
    }
    prefetch_->done = true;
    prefetch_->batch = std::move(batch);
  });
  prefetch_ = Prefetch{id, token, paths, featureSpec, false, false, {}};
}

}  // namespace fl::ui
