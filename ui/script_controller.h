#pragma once
// Opens and runs script sources (ui/script_source.h: TorchScript files and captures) as jobs
// of the document's job service, so the window never waits on LibTorch. Opening loads the file
// safely (core/io/torchscript_safety: a refused operator or a damaged file is reported by
// `failed` and the document keeps what it had), checks a capture against its built-in
// (core/script/capture's checkCapture) and hands the source to the document. Runs follow the
// document: a new input, preprocessing or option re-runs the source at once (changes made
// during a run coalesce into one more run); only the newest run's result reaches the document.
#include <QObject>
#include <QString>
#include <optional>
#include <string>

#include "ui/script_source.h"

namespace fl::ui {

class Document;

/// How a script source opens: as a file alone, or as a session or example restores it.
struct ScriptOpenOptions {
  std::optional<std::string> preprocess;  ///< else the default for its input
  std::optional<bool> imageInput;         ///< else guessed from its first weights
  bool moduleOutputs = false;
  QString expectSha256;                   ///< a session's: a different file is reported
  QString showPoint;                      ///< the view's tensor after the first run ("probe.NAME")
};

class ScriptController : public QObject {
  Q_OBJECT
 public:
  explicit ScriptController(Document* document, QObject* parent = nullptr);
  ~ScriptController() override;

  /// A TorchScript archive (by its entries, not its name) or a capture (.flcap).
  static bool isScriptFile(const QString& path);

  /// Loads `path` on the job service; the document gets it when it loaded (else `failed`).
  void open(const QString& path, const ScriptOpenOptions& options = {});
  /// Runs the open script source now (Run > Run now while one is open).
  void runNow();
  bool busy() const { return loadJob_ != 0 || runJob_ != 0; }
  /// Blocks until its jobs left the worker (tests only).
  void waitForIdle();

 Q_SIGNALS:
  /// The file was opened: the document holds it now. `firstTime`: this file's SHA-256 was
  /// never opened before on this machine (the window says once that TorchScript runs code).
  void opened(const QString& path, bool firstTime);
  /// Opening failed (refused operator, damaged file): one line naming the file; the document
  /// is unchanged.
  void failed(const QString& message);
  /// A run failed (wrong input shape, ...): the last good result stays.
  void runFailed(const QString& message);
  void busyChanged(bool busy);

 private:
  void startRun();
  void updateBusy();

  Document* document_;
  uint64_t loadJob_ = 0;
  uint64_t runJob_ = 0;
  bool rerun_ = false;     ///< the document changed while a run computed
  uint64_t nextLoad_ = 1;  ///< only the newest open counts
  QString pendingShow_;
  bool busy_ = false;
};

}  // namespace fl::ui
