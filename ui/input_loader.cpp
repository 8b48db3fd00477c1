#include "ui/input_loader.h"

#include <ATen/ATen.h>

#include <QFileInfo>
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
  if (!jobs_) return;
  const std::vector<uint64_t> ids = jobs_ids_;
  for (const uint64_t id : ids) jobs_->cancel(id);
}

void InputLoader::load(const QStringList& paths, const QString& featureSpec) {
  if (!jobs_) {
    QList<LoadOutcome> failed;
    for (const QString& path : paths) failed << LoadOutcome{false, {}, tr("%1: not opened (no worker)").arg(path), {}};
    Q_EMIT loaded(failed);
    return;
  }
  if (connectedTo_ != jobs_) {
    // Its ids leave the list when they end: delivered, or dropped before they ran.
    connect(jobs_, &JobService::jobEnded, this, [this](uint64_t id) {
      jobs_ids_.erase(std::remove(jobs_ids_.begin(), jobs_ids_.end(), id), jobs_ids_.end());
    });
    connectedTo_ = jobs_;
  }
  // One job per batch, loading in order, so inputs are assigned in the order they were chosen.
  const uint64_t epoch = epoch_;
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
      [this, epoch](QList<LoadOutcome>&& batch, const JobReport& report) {
        if (epoch == epoch_ && !report.cancelled) Q_EMIT loaded(batch);
      });
  jobs_ids_.push_back(id);
}

}  // namespace fl::ui
