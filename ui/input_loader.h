#pragma once
// Opens images and tensor files off the GUI thread (decoding, feature extraction and
// TorchScript backbones can take a while); results arrive as signals.
#include <QFutureWatcher>
#include <QObject>
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

class InputLoader : public QObject {
  Q_OBJECT
 public:
  explicit InputLoader(QObject* parent = nullptr);
  ~InputLoader() override;
  void load(const QStringList& paths, const QString& featureSpec);
  bool busy() const;
  void waitForIdle();
  /// Files still loading will not be delivered (a session is being opened instead).
  void discardPending() { ++epoch_; }

 Q_SIGNALS:
  /// The outcomes of one load() call, in the order given (files opened together).
  void loaded(const QList<fl::ui::LoadOutcome>& batch);

 private:
  QList<QFutureWatcher<QList<LoadOutcome>>*> watchers_;
  uint64_t epoch_ = 0;
};

}  // namespace fl::ui
