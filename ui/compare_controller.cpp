#include "ui/compare_controller.h"

#include "core/common/sha256.h"

#include <QFileInfo>
#include <algorithm>

#include "core/common/error.h"
#include "ui/document.h"
#include "ui/figure/figure_export.h"
#include "ui/job_service.h"
#include "ui/error_text.h"
#include "core/script/capture.h"
#include "core/script/script_model.h"

namespace fl::ui {

namespace {

/// Cache key of one column's run: what decides its result. The weights by content (SHA-256),
/// the inputs by the document's inputs revision and the files they came from.
std::string runKey(const RunRequest& req, const figure::FigureColumn& column, const std::string& inputs) {
  if (req.moduleId.empty()) {
    // A script or capture column: its file by content, and the point (a submodule output
    // point makes the run return more).
    return "file\n" + column.script + '\n' + column.capture + '\n' + column.sha256 + '\n' + column.point + '\n' +
           std::to_string(req.inputs.size()) + '\n' + inputs;
  }
  std::string key = req.moduleId + '\n';
  for (const auto& [k, v] : req.params) key += k + '=' + v + ';';
  key += '\n' + column.weights.sha256 + '\n' + column.weights.prefix.value_or("(detected)") + '\n' +
         std::to_string(req.seed) + '\n' + std::to_string(static_cast<int>(req.device)) + '\n' +
         std::to_string(req.inputs.size()) + '\n' + inputs;
  return key;
}

/// The inputs part of a run key: the document's inputs revision and the spec's files.
std::string inputsKey(const figure::FigureSpec& spec, uint64_t revision) {
  std::string key = "rev " + std::to_string(revision) + '\n';
  for (const auto& in : spec.inputs) key += in.path + '\n';
  for (const auto& f : spec.features) key += f + '\n';
  key += spec.channelsLast ? "last\n" : "first\n";
  return key;
}

constexpr size_t kMaxCachedRuns = 16;

}  // namespace

/// What a compare job hands back.
struct CompareController::Outcome {
  uint64_t generation = 0;
  std::string dataKey;
  std::shared_ptr<const figure::FigureData> data;  ///< prepared by this job (null: reused)
  std::shared_ptr<figure::FigureModel> model;      ///< null on error
  QString error;
  RunCache newRuns;  ///< runs this job computed, for the cache
};

CompareController::CompareController(Document* document, QObject* parent)
    : QObject(parent), document_(document) {
  // New inputs, another comparison, or another colormap, alpha or batch in the main view.
  connect(document_, &Document::inputsChanged, this, &CompareController::refresh);
  connect(document_, &Document::comparisonChanged, this, &CompareController::refresh);
  connect(document_, &Document::viewChanged, this, [this] {
    if (!document_->comparison().columns.empty() && viewKey() != builtView_) refresh();
  });
}

CompareController::~CompareController() {
  if (job_) document_->jobs()->cancel(job_);
}

void CompareController::addCurrentModule() {
  if (document_->moduleId().isEmpty()) return;
  figure::FigureColumn c;
  c.module = document_->moduleId().toStdString();
  c.params = document_->params();
  c.weights.path = document_->weightsPath().toStdString();
  if (!c.weights.path.empty()) c.label = QFileInfo(document_->weightsPath()).completeBaseName().toStdString();
  document_->addComparisonColumn(c);
}

void CompareController::addModule(const QString& id) {
  if (!document_->registry().find(id.toStdString())) return;
  figure::FigureColumn c;
  c.module = id.toStdString();
  document_->addComparisonColumn(c);
}

void CompareController::addNetworkPoint(const QString& file, const QString& point, const QString& features) {
  if (file.isEmpty()) return;
  figure::FigureColumn c;
  const std::string path = QFileInfo(file).absoluteFilePath().toStdString();
  (file.endsWith(QStringLiteral(".flcap"), Qt::CaseInsensitive) ? c.capture : c.script) = path;
  c.point = point.toStdString();
  // The hash of the file as listed: sessions and exported specs name it, and a file changed
  // since then is refused at the run instead of shown under the old name.
  if (const auto h = listedHashes_.find(file); h != listedHashes_.end()) c.sha256 = h->second;
  if (!features.isEmpty() && c.capture.empty()) c.features = {features.toStdString()};
  // "net: layer1.cbam.spatial.sigmoid" tells two points of one network apart.
  c.label = QFileInfo(file).completeBaseName().toStdString() + (point.isEmpty() ? "" : ": " + c.point);
  document_->addComparisonColumn(c);
}

void CompareController::listNetworkPoints(const QString& file) {
  struct Listed {
    QStringList points;
    QString features;
    QString error;
    std::string sha256;  ///< of the file whose points were listed: the column names it
  };
  const std::string path = file.toStdString();
  const bool isCapture = file.endsWith(QStringLiteral(".flcap"), Qt::CaseInsensitive);
  document_->jobs()->submit<Listed>(
      JobPriority::Interactive, this,
      [path, isCapture](JobContext&) {
        Listed out;
        std::string trace;
        try {
          out.sha256 = sha256File(path);
          trace = isCapture ? writeCaptureScript(readCapture(path)) : path;
          const auto model = script::ScriptModel::load(trace);
          for (const auto& p : model->points(false)) {
            if (p.capturable) out.points << QString::fromStdString(p.name);
          }
          // A network whose first layer takes one or three channels reads the image itself.
          if (const auto shapes = model->guessInputShapes(); !isCapture && shapes && shapes->size() == 1 &&
                                                             (*shapes)[0].size() == 4) {
            const int64_t channels = (*shapes)[0][1];
            if (channels == 1) out.features = QStringLiteral("gray:stride=1,standardize=0");
            if (channels == 3) out.features = QStringLiteral("rgb:stride=1,standardize=0");
          }
          if (out.points.isEmpty()) out.error = CompareController::tr("%1 has no attention point (no sigmoid, hardsigmoid or softmax outside control flow)").arg(QString::fromStdString(path));
        } catch (const Error& e) {
          out.error = guiText(e);
        } catch (const std::exception& e) {
          out.error = QString::fromUtf8(e.what());
        }
        if (isCapture && !trace.empty()) removeCaptureScript(trace);
        return out;
      },
      [this, file](Listed&& out, const JobReport&) {
        if (out.error.isEmpty()) listedHashes_[file] = out.sha256;
        Q_EMIT networkPointsListed(file, out.points, out.features, out.error);
      });
}

void CompareController::setStatus(const QString& status) {
  status_ = status;
  Q_EMIT changed();
}

void CompareController::dropRunning() {
  ++generation_;  // whatever it delivers is from before this change
  if (job_) document_->jobs()->cancel(job_);
  job_ = 0;
}

QString CompareController::viewKey() const {
  const ViewSettings& v = document_->view();
  return QStringLiteral("%1|%2|%3").arg(v.colormap).arg(v.alpha).arg(v.batch);
}

std::string CompareController::prepareKey(const figure::FigureSpec& spec) const {
  std::string key = inputsKey(spec, document_->inputsRevision());
  key += "seed " + std::to_string(spec.seed) + " device " + spec.device + " underlay " +
         std::to_string(spec.underlay) + '\n';
  for (const auto& c : spec.columns) {
    key += c.module + '|' + c.script + '|' + c.capture + '|' + c.point + '|';
    for (const auto& [k, v] : c.params) key += k + '=' + v + ';';
    key += '|' + c.weights.path + '|' + c.weights.sha256 + '|' + c.weights.prefix.value_or("(detected)") + '|' +
           (c.seed ? std::to_string(*c.seed) : std::string("-")) + '\n';
  }
  return key;
}

void CompareController::refresh() {
  const figure::FigureSpec& comparison = document_->comparison();
  if (comparison.columns.empty() || document_->inputs().empty()) {
    dropRunning();
    model_.reset();
    stale_ = false;
    const QString why = comparison.columns.empty() ? tr("No modules to compare: add one above.")
                                                   : tr("Open an image or tensor first (File > Open): the columns run on it.");
    placeholder_ = comparison.columns.empty() ? QString() : why;
    setStatus(why);
    return;
  }
  // A column that needs more inputs than are open: say so in the window's words.
  for (const auto& c : comparison.columns) {
    const ModuleDescriptor* d = document_->registry().find(c.module);
    if (d && d->inputs.size() > document_->inputs().size()) {
      QStringList names;
      for (const auto& in : d->inputs) names << QString::fromStdString(in.name);
      const QString why = tr("%1 needs %2 inputs (%3); %4 open. Open another image or tensor.")
                              .arg(QString::fromStdString(d->displayName))
                              .arg(d->inputs.size())
                              .arg(names.join(QStringLiteral(", ")))
                              .arg(document_->inputs().size() == 1 ? tr("1 is") : tr("%1 are").arg(document_->inputs().size()));
      dropRunning();
      stale_ = model_ != nullptr;
      lastError_ = why;
      if (!model_) placeholder_ = why;
      setStatus(why);
      Q_EMIT failed(why);
      return;
    }
  }
  figure::FigureSpec spec;
  try {
    spec = document_->comparisonSpec();
  } catch (const Error& e) {
    dropRunning();
    stale_ = model_ != nullptr;
    lastError_ = QString::fromUtf8(e.what());
    setStatus(lastError_);
    return;
  }
  builtView_ = viewKey();
  dropRunning();
  const uint64_t gen = generation_;
  const std::string key = prepareKey(spec);
  // Only the view of the figure changed: compose again from what was prepared.
  std::shared_ptr<const figure::FigureData> reuse = data_ && dataKey_ == key ? data_ : nullptr;
  if (!reuse) setStatus(tr("Running %1 module(s)...").arg(spec.columns.size()));
  const ModuleRegistry* registry = &document_->registry();
  const std::string inputs = inputsKey(spec, document_->inputsRevision());
  job_ = document_->jobs()->submit<Outcome>(
      JobPriority::Compare, this,
      [registry, spec, gen, key, reuse, inputs, cache = runs_](JobContext& ctx) {
        Outcome out;
        out.generation = gen;
        out.dataKey = key;
        try {
          std::shared_ptr<const figure::FigureData> data = reuse;
          if (!data) {
            figure::BuildOptions options;
            options.progress = [&ctx](int, int, const std::string&) { ctx.checkCancelled(); };
            options.runner = [&](const RunRequest& req, const figure::FigureColumn& column) {
              const std::string k = runKey(req, column, inputs);
              if (const auto hit = cache.find(k); hit != cache.end()) return *hit->second;
              if (const auto hit = out.newRuns.find(k); hit != out.newRuns.end()) return *hit->second;
              // Script and capture columns run their file; modules through the job's run.
              RunResult r = req.moduleId.empty() ? figure::runFigureColumn(*registry, req, column) : ctx.run(*registry, req);
              if (r.ok) out.newRuns[k] = std::make_shared<const RunResult>(r);
              return r;
            };
            auto prepared = std::make_shared<figure::FigureData>(figure::prepareFigure(*registry, spec, "", options));
            data = prepared;
            out.data = prepared;
          }
          out.model = std::make_shared<figure::FigureModel>(figure::composeFigure(*registry, *data, spec));
        } catch (const Error& e) {
          out.error = guiText(e);
        } catch (const std::exception& e) {
          out.error = QString::fromUtf8(e.what());
        }
        return out;
      },
      [this](Outcome&& out, const JobReport&) { onBuilt(std::move(out)); });
}

void CompareController::onBuilt(Outcome out) {
  // Runs are worth keeping even from a build that was overtaken.
  for (auto& [k, r] : out.newRuns) {
    if (runs_.emplace(k, r).second) runOrder_.push_back(k);
  }
  if (out.generation != generation_) return;
  job_ = 0;
  if (out.data) {
    data_ = out.data;
    dataKey_ = out.dataKey;
  }
  // The cache keeps the newest runs, at most kMaxCachedRuns.
  while (runs_.size() > kMaxCachedRuns && !runOrder_.empty()) {
    runs_.erase(runOrder_.front());
    runOrder_.erase(runOrder_.begin());
  }
  if (out.model) {
    model_ = out.model;
    stale_ = false;
    placeholder_.clear();
    QStringList notes;
    for (const auto& w : model_->warnings) notes << QString::fromStdString(w);
    status_ = notes.isEmpty() ? tr("%1 module(s) on one scale; hover for values, wheel to zoom, "
                                   "drag to pan, double-click to reset.")
                                    .arg(model_->runs.size())
                              : notes.join(QStringLiteral("\n"));
    Q_EMIT changed();
    Q_EMIT built();
  } else {
    // The last good figure stays; the message says why the new one could not be built.
    stale_ = model_ != nullptr;
    lastError_ = out.error;
    setStatus(out.error);
    Q_EMIT failed(out.error);
  }
}

QString CompareController::exportBlocker() const {
  if (!model_) return tr("Nothing to export yet: add modules to the comparison.");
  if (busy()) return tr("The figure is being rebuilt; export when it is shown.");
  if (stale_) {
    return tr("Not exported: the figure on screen is from before the last change, which failed (%1). "
              "Fix or undo that change first.").arg(lastError_);
  }
  return {};
}

QString CompareController::exportTo(const QString& path, bool overwrite) {
  if (const QString why = exportBlocker(); !why.isEmpty()) return why;
  try {
    figure::ExportOptions o;
    o.overwrite = overwrite;
    const auto written = figure::exportFigure(*model_, path.toStdString(), o);
    Q_EMIT message(tr("Wrote %1 (and its spec and statistics)").arg(QString::fromStdString(written.front())), false);
    return {};
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
}

}  // namespace fl::ui
