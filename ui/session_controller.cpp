#include "ui/session_controller.h"

#include <QFileInfo>

#include "core/common/error.h"
#include "core/io/state_dict.h"
#include "ui/document.h"
#include "ui/job_service.h"

namespace fl::ui {

SessionController::SessionController(Document* document, QObject* parent)
    : QObject(parent), document_(document) {
  connect(document_->jobs(), &JobService::jobEnded, this, [this](uint64_t job) {
    if (job == job_) job_ = 0;  // dropped before it ran (superseded)
  });
}

SessionController::~SessionController() {
  if (job_) document_->jobs()->cancel(job_);  // never waits for the worker
}

void SessionController::waitForIdle() {
  if (job_) document_->jobs()->waitFor({job_});
}

QString SessionController::save(const QString& path, bool compareVisible) {
  try {
    writeSession(captureSession(*document_, compareVisible), path);
  } catch (const std::exception& e) {
    return QString::fromUtf8(e.what());
  }
  path_ = QFileInfo(path).absoluteFilePath();
  Q_EMIT pathChanged(path_);
  return {};
}

void SessionController::open(const QString& path, const QString& fallbackFeatures) {
  SessionLoad load;
  try {
    load.state = readSession(path);
  } catch (const std::exception& e) {
    Q_EMIT failed(QString::fromUtf8(e.what()));  // nothing changed
    return;
  }
  load.path = QFileInfo(path).absoluteFilePath();
  load.generation = ++generation_;
  // A session still being read is superseded: dropped if it has not started, its result
  // ignored (by generation) if it has. The GUI thread never waits for it.
  if (job_) document_->jobs()->cancel(job_);
  // Reading images through a feature extractor and checkpoints can take seconds: a job.
  job_ = document_->jobs()->submit<SessionLoad>(JobPriority::Background, this,
      [load, fallbackFeatures](JobContext&) mutable {
    const QStringList missing = missingFiles(load.state);
    for (const QString& m : missing) load.problems << QObject::tr("missing %1").arg(m);
    for (const SessionInput& in : load.state.inputs) {
      const QString features = in.features.isEmpty() ? fallbackFeatures : in.features;
      LoadOutcome o = loadInputFile(in.path, features);
      // A missing file is already listed; other failures say what went wrong.
      if (!o.ok && QFileInfo::exists(inputFile(in.path))) load.problems << o.error;
      load.inputs.push_back(std::move(o));
    }
    if (!load.state.weights.isEmpty() && QFileInfo::exists(load.state.weights)) {
      try {
        load.weights = std::make_shared<NamedTensors>(readCheckpoint(load.state.weights.toStdString()).tensors);
      } catch (const std::exception& e) {
        load.problems << QObject::tr("weights not loaded (seeded init instead): %1")
                             .arg(QString::fromStdString(firstLine(e.what())));
      }
    } else if (!load.state.weights.isEmpty()) {
      load.problems << QObject::tr("the module runs with seeded init instead of its missing weights");
    }
    return load;
  },
      [this](SessionLoad&& load, const JobReport&) {
        if (load.generation != generation_) return;
        job_ = 0;
        apply(std::move(load));
      });
}

void SessionController::apply(SessionLoad load) {
  const SessionState& s = load.state;
  DocumentState d;
  // Inputs that could not be read are dropped; the module inputs they fed stay empty.
  std::vector<int> newIndex(s.inputs.size(), -1);
  for (size_t i = 0; i < load.inputs.size(); ++i) {
    if (!load.inputs[i].ok) continue;
    newIndex[i] = static_cast<int>(d.inputs.size());
    d.inputs.push_back(load.inputs[i].item);
  }
  for (int idx : s.assignment) d.assignment.push_back(idx >= 0 && idx < static_cast<int>(newIndex.size()) ? newIndex[idx] : -1);
  d.moduleId = s.module;
  if (!s.module.isEmpty() && !document_->registry().find(s.module.toStdString())) {
    load.problems << tr("unknown module '%1' (not in this FusionLens)").arg(s.module);
  }
  d.params = s.params;
  d.weightsPath = load.weights ? s.weights : QString();
  d.weights = load.weights;
  d.device = s.device;
  d.memoryBudget = s.memoryBudget;
  d.view = s.view;
  {
    figure::FigureSpec layout = s.compare.value_or(figure::FigureSpec{});
    // A column whose weights moved would show seeded weights under the trained model's name:
    // it is left out, and said so.
    std::vector<figure::FigureColumn> kept;
    std::vector<int> columnIndex;
    for (size_t i = 0; i < layout.columns.size(); ++i) {
      const auto& c = layout.columns[i];
      if (!c.weights.path.empty() && !QFileInfo::exists(QString::fromStdString(c.weights.path))) {
        load.problems << tr("compare column %1 (%2) left out: its weights are missing")
                             .arg(i + 1)
                             .arg(QString::fromStdString(c.module));
        columnIndex.push_back(-1);
        continue;
      }
      columnIndex.push_back(static_cast<int>(kept.size()));
      kept.push_back(c);
    }
    layout.columns = kept;
    if (layout.difference) {
      const int a = columnIndex[layout.difference->first], b = columnIndex[layout.difference->second];
      layout.difference = a >= 0 && b >= 0 ? std::optional<std::pair<int, int>>(std::make_pair(a, b)) : std::nullopt;
    }
    d.comparison = layout;  // restored with the rest, in one step
  }
  document_->restore(std::move(d));

  path_ = load.path;
  Q_EMIT pathChanged(path_);
  Q_EMIT restored(load.path, load.problems, s.compareVisible);
  if (s.script && QFileInfo::exists(s.script->path)) Q_EMIT scriptWanted(*s.script, s.view.tensor);
}

}  // namespace fl::ui
