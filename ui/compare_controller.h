#pragma once
// The comparison's controller: builds the figure of the document's comparison
// (Document::comparison()) as compare jobs of the job service, and keeps what it can. Building
// has two halves (core/figure/figure_model.h): preparing (hash and read the inputs, run every
// column) and composing (rows, reductions, colour ranges, statistics). A change of the width,
// colormap, alpha, batch, scale, rows, difference or a column's title only composes again from
// the prepared data: nothing is read, hashed or run. When columns or inputs change, each
// column's run is reused from a cache keyed by (module, parameters, weights SHA-256, inputs
// revision and files, seed, device); only new columns run.
#include <QObject>
#include <QString>
#include <QStringList>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/figure/figure_model.h"

namespace fl::ui {

class Document;

class CompareController : public QObject {
  Q_OBJECT
 public:
  explicit CompareController(Document* document, QObject* parent = nullptr);
  /// Cancels its job (a queued build is dropped, a running one stops before its next
  /// column); never waits for it.
  ~CompareController() override;

  Document* document() const { return document_; }
  /// Adds the document's current module with its parameters and weights as a column.
  void addCurrentModule();
  /// Adds a module with default parameters and seeded weights.
  void addModule(const QString& id);
  /// Adds a point of a TorchScript file (.pt) or of a capture (.flcap) as a column; it runs
  /// on the document's inputs (a capture: on the inputs it holds). `point` empty: the file's
  /// first spatial point. `features`: the column's own feature spec for image inputs (e.g.
  /// "gray:stride=1,standardize=0" for a network that reads the image itself); empty: the
  /// document's. The column runs like the others (a compare job, cached).
  void addNetworkPoint(const QString& file, const QString& point, const QString& features = QString());
  /// Lists the capturable attention points of a TorchScript file or capture on the job
  /// service (loading runs the safety check); answers with networkPointsListed().
  void listNetworkPoints(const QString& file);

  /// Builds (or composes) the figure of the comparison now.
  void refresh();
  /// The last built figure, or null.
  std::shared_ptr<const figure::FigureModel> model() const { return model_; }
  /// From a build's start until its figure (or error) is shown.
  bool busy() const { return job_ != 0; }
  /// The figure on screen is from before the last change, which failed.
  bool stale() const { return stale_; }
  QString lastError() const { return lastError_; }
  /// The status line: what is being done, the figure's notes, or why there is none.
  QString status() const { return status_; }
  /// What the canvas says while it has no figure ("" for nothing).
  QString placeholder() const { return placeholder_; }

  /// Why the figure cannot be exported now ("" when it can).
  QString exportBlocker() const;
  /// Exports the current figure (format by extension) with its spec and statistics. Without
  /// `overwrite`, refuses when a file exists. Returns "" or the error.
  QString exportTo(const QString& path, bool overwrite);

 Q_SIGNALS:
  /// A new figure is shown.
  void built();
  /// A build could not be made; the last good figure stays.
  void failed(const QString& message);
  /// The model, status or placeholder changed.
  void changed();
  void message(const QString& text, bool error);
  /// The points of `file` (names, in graph order), or why there are none (`error`).
  /// `features`: what a whole network on an image needs (its first layer takes 1 or 3
  /// channels: the image itself at stride 1, unstandardised), else "".
  void networkPointsListed(const QString& file, const QStringList& points, const QString& features,
                           const QString& error);

 private:
  struct Outcome;
  using RunCache = std::map<std::string, std::shared_ptr<const RunResult>>;
  std::map<QString, std::string> listedHashes_;  ///< file -> sha256, from listNetworkPoints
  void onBuilt(Outcome out);
  void setStatus(const QString& status);
  /// Stops the build on the worker (if any): its result would be stale.
  void dropRunning();
  QString viewKey() const;
  /// What preparing depends on (inputs, columns but their titles, seed, device, ...).
  std::string prepareKey(const figure::FigureSpec& spec) const;

  Document* document_;
  std::shared_ptr<const figure::FigureModel> model_;
  std::shared_ptr<const figure::FigureData> data_;  ///< the last prepared data
  std::string dataKey_;                             ///< its prepareKey
  RunCache runs_;                                   ///< column runs by runKey
  std::vector<std::string> runOrder_;               ///< keys, oldest first (the cache is trimmed)
  uint64_t job_ = 0;
  uint64_t generation_ = 0;
  bool stale_ = false;
  QString lastError_;
  QString status_;
  QString placeholder_;
  QString builtView_;  ///< colormap, alpha and batch of the main view the figure follows
};

}  // namespace fl::ui
