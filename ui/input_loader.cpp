#include "ui/input_loader.h"

#include <ATen/ATen.h>

#include <QFileInfo>
#include <QtConcurrent/QtConcurrentRun>

#include "core/common/error.h"
#include "core/features/features.h"
#include "core/io/image.h"
#include "core/io/tensor_file.h"
#include "ui/error_text.h"

namespace fl::ui {

LoadOutcome loadInputFile(const QString& path, const QString& featureSpec) {
  LoadOutcome out;
  out.item.path = path;
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
  } catch (const Error& e) {
    out.error = guiText(e);
  } catch (const std::exception& e) {
    out.error = QStringLiteral("%1: %2").arg(path, QString::fromStdString(firstLine(e.what())));
  }
  return out;
}

InputLoader::InputLoader(QObject* parent) : QObject(parent) {}

InputLoader::~InputLoader() { waitForIdle(); }

bool InputLoader::busy() const {
  for (auto* w : watchers_) {
    if (w->isRunning()) return true;
  }
  return false;
}

void InputLoader::waitForIdle() {
  for (auto* w : watchers_) w->waitForFinished();
}

void InputLoader::load(const QStringList& paths, const QString& featureSpec) {
  // One task per batch, loading in order, so inputs are assigned in the order they were chosen.
  auto* watcher = new QFutureWatcher<QList<LoadOutcome>>(this);
  watchers_ << watcher;
  const uint64_t epoch = epoch_;
  connect(watcher, &QFutureWatcher<QList<LoadOutcome>>::finished, this, [this, watcher, epoch] {
    if (epoch == epoch_) {
      Q_EMIT loaded(watcher->result());
    }
    watchers_.removeAll(watcher);
    watcher->deleteLater();
  });
  watcher->setFuture(QtConcurrent::run([paths, featureSpec] {
    QList<LoadOutcome> out;
    for (const QString& path : paths) out << loadInputFile(path, featureSpec);
    return out;
  }));
}

}  // namespace fl::ui
