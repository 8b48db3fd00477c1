#pragma once
// Opens and saves sessions (ui/session.h) for the main window. Opening reads every input and
// the weights off the GUI thread (a background job), then replaces the document's state in one
// step; a session that cannot be read changes nothing. Files that moved are listed, the rest is
// restored. A session opened while another is still being read supersedes it.
#include <QObject>
#include <QString>
#include <QStringList>
#include <memory>
#include <vector>

#include "ui/input_loader.h"
#include "ui/session.h"

namespace fl::ui {

class Document;

/// What the worker read for a session.
struct SessionLoad {
  uint64_t generation = 0;
  QString path;
  SessionState state;
  std::vector<LoadOutcome> inputs;  ///< per session input; ok == false when missing or unreadable
  std::shared_ptr<const NamedTensors> weights;
  QStringList problems;  ///< what could not be restored, one line each
};

class SessionController : public QObject {
  Q_OBJECT
 public:
  explicit SessionController(Document* document, QObject* parent = nullptr);
  ~SessionController() override;

  /// The session file last opened or saved ("" when none).
  QString path() const { return path_; }
  /// Writes the current state to `path` atomically. Returns "" or the error.
  QString save(const QString& path, bool compareVisible);
  /// Opens a session: `failed` when it cannot be read (nothing changes), else `restored`
  /// once its inputs and weights are read. `fallbackFeatures` serves images whose feature
  /// source the session does not name.
  void open(const QString& path, const QString& fallbackFeatures);
  bool busy() const { return job_ != 0; }
  /// Blocks until the session being read left the worker (tests only).
  void waitForIdle();

 Q_SIGNALS:
  void failed(const QString& message);
  /// The session is restored; `problems` lists what is missing or could not be read.
  void restored(const QString& path, const QStringList& problems, bool compareVisible);
  void pathChanged(const QString& path);
  /// After `restored`: the session shows a TorchScript file or capture; the window opens it
  /// (ScriptController::open with these settings and its SHA-256 checked).
  void scriptWanted(const fl::ui::SessionScript& script, const QString& showTensor);

 private:
  void apply(SessionLoad load);

  Document* document_;
  QString path_;
  uint64_t generation_ = 0;
  uint64_t job_ = 0;  ///< the job reading the newest session; 0 none
};

}  // namespace fl::ui
