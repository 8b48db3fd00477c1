#include "ui/document.h"

#include <QFileInfo>
#include <QSignalBlocker>
#include <algorithm>

#include "core/common/memory.h"
#include "core/run/run.h"
#include "ui/error_text.h"
#include "ui/job_service.h"

namespace fl::ui {

Document::Document(const ModuleRegistry& registry, QObject* parent)
    : QObject(parent), registry_(registry), jobs_(new JobService(this)) {
  // Every change of the request, wherever it is emitted, makes older runs stale.
  connect(this, &Document::requestChanged, this, [this] { ++revision_; });
}

void Document::addInput(InputItem item) {
  inputs_.push_back(std::move(item));
  ++inputsRevision_;
  const int added = static_cast<int>(inputs_.size()) - 1;
  // Opening files one after another assigns them in order: the new input takes the first
  // slot that is empty or only repeats an earlier slot's input, and fills every empty slot
  // after it (one image into a fusion module fuses it with itself until a second arrives).
  bool placed = false;
  for (size_t s = 0; s < assignment_.size(); ++s) {
    const bool repeat = std::find(assignment_.begin(), assignment_.begin() + s, assignment_[s]) !=
                        assignment_.begin() + s;
    if (assignment_[s] < 0 || (!placed && repeat)) {
      assignment_[s] = added;
      placed = true;
    }
  }
  Q_EMIT inputsChanged();
  Q_EMIT requestChanged();
}

void Document::addInputs(std::vector<InputItem> items) {
  if (items.empty()) return;
  if (items.size() == 1) {
    addInput(std::move(items.front()));
    return;
  }
  const int first = static_cast<int>(inputs_.size());
  const int count = static_cast<int>(items.size());
  for (auto& item : items) inputs_.push_back(std::move(item));
  ++inputsRevision_;
  // Opened together, meant together (rubberwhale1 and 2 into AFF's x and residual): the
  // batch replaces what fed the module. Slots beyond the batch keep their input, or take
  // the batch's last one when they had none.
  for (size_t s = 0; s < assignment_.size(); ++s) {
    if (static_cast<int>(s) < count) {
      assignment_[s] = first + static_cast<int>(s);
    } else if (assignment_[s] < 0) {
      assignment_[s] = first + count - 1;
    }
  }
  Q_EMIT inputsChanged();
  Q_EMIT requestChanged();
}

void Document::removeInput(int index) {
  if (index < 0 || index >= static_cast<int>(inputs_.size())) return;
  inputs_.erase(inputs_.begin() + index);
  ++inputsRevision_;
  for (auto& slot : assignment_) {
    if (slot == index) {
      slot = -1;
    } else if (slot > index) {
      --slot;
    }
  }
  Q_EMIT inputsChanged();
  Q_EMIT requestChanged();
}

void Document::clearInputs() {
  if (inputs_.empty()) return;
  inputs_.clear();
  ++inputsRevision_;
  for (auto& slot : assignment_) slot = -1;
  Q_EMIT inputsChanged();
  Q_EMIT requestChanged();
}

void Document::assign(int slot, int inputIndex) {
  if (slot < 0 || slot >= static_cast<int>(assignment_.size())) return;
  if (inputIndex >= static_cast<int>(inputs_.size())) return;
  if (assignment_[slot] == inputIndex) return;
  assignment_[slot] = inputIndex;
  Q_EMIT inputsChanged();
  Q_EMIT requestChanged();
}

const ModuleDescriptor* Document::descriptor() const {
  return registry_.find(moduleId_.toStdString());
}

void Document::resetAssignment() {
  const ModuleDescriptor* d = descriptor();
  const size_t n = d ? d->inputs.size() : 0;
  assignment_.assign(n, -1);
  // Default: the i-th opened input feeds the i-th module input; a single input feeds all
  // (e.g. one image into a fusion module: the module fuses the features with themselves).
  for (size_t i = 0; i < n && !inputs_.empty(); ++i) {
    assignment_[i] = static_cast<int>(std::min(i, inputs_.size() - 1));
  }
}

void Document::setModule(const QString& id) {
  if (registry_.find(id.toStdString()) == nullptr) return;
  if (script_) {
    closeScript();  // choosing a module leaves the script source, even the same module
  } else if (id == moduleId_) {
    return;
  }
  moduleId_ = id;
  params_.clear();
  wantEverything_ = false;
  // The weights the user loaded for this module earlier in the session come back with it.
  const auto kept = moduleWeights_.find(id);
  weightsPath_ = kept != moduleWeights_.end() ? kept->second.first : QString();
  weights_ = kept != moduleWeights_.end() ? kept->second.second : nullptr;
  resetAssignment();
  Q_EMIT moduleChanged();
  Q_EMIT inputsChanged();
  Q_EMIT requestChanged();
}

void Document::setParam(const std::string& name, const std::string& value) {
  auto it = params_.find(name);
  if (it != params_.end() && it->second == value) return;
  params_[name] = value;
  Q_EMIT requestChanged();
}

void Document::setWeights(const QString& path, std::shared_ptr<const NamedTensors> weights) {
  weightsPath_ = path;
  weights_ = std::move(weights);
  if (!moduleId_.isEmpty()) moduleWeights_[moduleId_] = {weightsPath_, weights_};
  Q_EMIT requestChanged();
}

void Document::clearWeights() {
  moduleWeights_.erase(moduleId_);
  if (!weights_ && weightsPath_.isEmpty()) return;
  weightsPath_.clear();
  weights_.reset();
  Q_EMIT requestChanged();
}

void Document::setDevice(DeviceChoice device) {
  if (device == device_) return;
  device_ = device;
  Q_EMIT requestChanged();
}

void Document::setMemoryBudget(int64_t bytes) {
  bytes = std::max<int64_t>(0, bytes);
  if (bytes == memoryBudget_) return;
  memoryBudget_ = bytes;
  Q_EMIT requestChanged();
}

QString Document::readiness() const {
  if (script_) return scriptBlocksModule();
  const ModuleDescriptor* d = descriptor();
  if (!d) return tr("Choose a module.");
  std::vector<Shape> shapes;
  for (size_t i = 0; i < d->inputs.size(); ++i) {
    const int idx = i < assignment_.size() ? assignment_[i] : -1;
    if (idx < 0 || idx >= static_cast<int>(inputs_.size())) {
      return tr("Open an input for '%1' (File > Open).").arg(QString::fromStdString(d->inputs[i].name));
    }
    shapes.push_back(inputs_[idx].tensor.sizes().vec());
  }
  try {
    const Params p = resolveParams(d->id, d->params, params_);
    const Problem problem = d->check(p, shapes);
    return problem.empty() ? QString() : guiText(problem.error(ErrorKind::Input));
  } catch (const Error& e) {
    return guiText(e);
  } catch (const std::exception& e) {
    return QString::fromStdString(firstLine(e.what()));
  }
}

QString Document::estimate() const {
  if (!readiness().isEmpty()) return {};
  const auto bytes = [](int64_t n) { return QString::fromStdString(formatBytes(n)); };
  try {
    // The plan run() makes for this very request (core/run/memory_plan.h, counting the
    // module's weights), so the window says what the CLI and the run say.
    const MemoryPlan plan = planRun(registry_, makeRequest(0));
    const QString head = tr("Estimated peak %1 (weights %2), budget %3")
                             .arg(bytes(plan.fullBytes()), bytes(plan.weightBytes), bytes(plan.budget));
    if (plan.fullBytes() <= plan.budget) return head + QStringLiteral(".");
    if (!plan.fits()) {
      return head + tr(": over it; the run will be refused (%1).")
                        .arg(QString::fromStdString(plan.refusal(moduleId_.toStdString())));
    }
    return head + tr(": runs in query chunks (about %1 planned, at least %2); what does not fit (the full "
                     "attention matrix) is withheld, and attention rows are computed per query pixel on demand.")
                      .arg(bytes(plan.estimatedBytes()), bytes(plan.requiredBytes()));
  } catch (const std::exception&) {
    return {};
  }
}

RunRequest Document::makeRequest(uint64_t requestId) const {
  RunRequest req;
  req.requestId = requestId;
  req.maxMemoryBytes = memoryBudget_;
  req.outputs = wantedOutputs();
  req.moduleId = moduleId_.toStdString();
  req.params = params_;
  req.weights = weights_;
  req.weightsPath = weightsPath_.toStdString();  // names the file in messages
  req.device = device_;
  for (int idx : assignment_) {
    if (idx >= 0 && idx < static_cast<int>(inputs_.size())) req.inputs.push_back(inputs_[idx].tensor);
  }
  return req;
}

std::vector<std::string> Document::wantedOutputs() const {
  const ModuleDescriptor* d = descriptor();
  if (!d || !d->plannedMemoryBytes || d->outputs.empty() || wantEverything_) return {};
  // The tensor the view will show: its own when it is one of this module's, else the one a
  // new result is shown with (setResult: the first probe, withheld or not, else the output).
  QString shown = view_.tensor;
  bool known = false;
  for (const auto& o : d->outputs) known |= shown == QString::fromStdString(o);
  for (const auto& p : d->probes) known |= shown == QStringLiteral("probe.") + QString::fromStdString(p.name);
  for (const auto& in : d->inputs) known |= shown == QStringLiteral("input.") + QString::fromStdString(in.name);
  if (!known) {
    shown = d->probes.empty() ? QString::fromStdString(d->outputs.front())
                              : QStringLiteral("probe.") + QString::fromStdString(d->probes.front().name);
  }
  std::vector<std::string> out{d->outputs.front()};
  for (size_t i = 1; i < d->outputs.size(); ++i) {
    if (shown == QString::fromStdString(d->outputs[i])) out.push_back(d->outputs[i]);
  }
  for (const auto& p : d->probes) {
    if (shown == QStringLiteral("probe.") + QString::fromStdString(p.name)) out.push_back(p.name);
  }
  return out;
}

QStringList Document::notComputed() const {
  QStringList out;
  if (!result_) return out;
  const std::vector<std::string>& asked = resultContext_.request.outputs;
  const ModuleDescriptor* d = registry_.find(result_->moduleId);
  if (!d || asked.empty()) return out;
  const auto wanted = [&asked](const std::string& name) {
    return std::find(asked.begin(), asked.end(), name) != asked.end();
  };
  for (const auto& o : d->outputs) {
    if (!wanted(o)) out << QString::fromStdString(o);
  }
  for (const auto& p : d->probes) {
    if (!wanted(p.name) && !wanted("probe." + p.name)) out << QStringLiteral("probe.") + QString::fromStdString(p.name);
  }
  return out;
}

void Document::requestEverything() {
  if (wantEverything_) return;
  const auto before = wantedOutputs();
  wantEverything_ = true;
  if (wantedOutputs() != before) Q_EMIT requestChanged();
}

void Document::setResult(RunResult result, ResultContext context) {
  result_ = std::move(result);
  resultContext_ = std::move(context);
  resultAssignment_ = assignment_;
  lastError_.clear();
  queryRows_ = QueryRows{};
  wantedQuery_ = QPoint(-1, -1);
  // Keep the view on the same tensor when the new result has it; else pick the first probe
  // (a withheld attention probe counts: its rows come on demand).
  ViewSettings v = view_;
  const QStringList onDemand = onDemandProbes();
  bool found = onDemand.contains(v.tensor);
  for (const auto& p : result_->probes) found |= v.tensor == QStringLiteral("probe.") + QString::fromStdString(p.name);
  for (const auto& o : result_->outputNames) found |= v.tensor == QString::fromStdString(o);
  if (!found) {
    v.tensor = !result_->probes.empty()
                   ? QStringLiteral("probe.") + QString::fromStdString(result_->probes.front().name)
                   : (!onDemand.isEmpty() ? onDemand.front() : QString::fromStdString(result_->outputNames.front()));
    v.channel = -1;
    v.head = -1;
    v.queryX = v.queryY = -1;
  }
  view_ = v;
  Q_EMIT resultChanged();
  Q_EMIT viewChanged();
}

QStringList Document::onDemandProbes() const {
  QStringList out;
  if (!result_) return out;
  const ModuleDescriptor* d = registry_.find(result_->moduleId);
  if (!d) return out;
  for (const ProbeSpec& spec : d->probes) {
    if (spec.kind == ProbeKind::AttentionMatrix && result_->findProbe(spec.name) == nullptr) {
      out << QStringLiteral("probe.") + QString::fromStdString(spec.name);
    }
  }
  return out;
}

bool Document::isOnDemandProbe(const QString& tensor) const { return onDemandProbes().contains(tensor); }

void Document::requestQueryRows(int x, int y, bool retry) {
  if (!result_ || x < 0 || y < 0) return;
  const bool failed = queryRows_.requestId == result_->requestId && QPoint(queryRows_.x, queryRows_.y) == QPoint(x, y) &&
                      !queryRows_.rows.defined();
  if (wantedQuery_ == QPoint(x, y) && !(retry && failed)) return;
  wantedQuery_ = QPoint(x, y);
  Q_EMIT queryRowsWanted(x, y);
}

void Document::setQueryRows(QueryRows rows) {
  // Rows of an older result, or of a pixel no longer wanted, are stale.
  if (!result_ || rows.requestId != result_->requestId || QPoint(rows.x, rows.y) != wantedQuery_) return;
  queryRows_ = std::move(rows);
  Q_EMIT queryRowsChanged();
}

void Document::setRunError(const QString& message) {
  lastError_ = message;
  Q_EMIT runFailed(message);
}

void Document::setRunError(const Error& error) { setRunError(guiText(error)); }

QImage Document::baseImage(int slot) const {
  if (script_) return scriptRun_ ? scriptRun_->image : QImage();
  if (slot >= 0 && slot < static_cast<int>(resultAssignment_.size())) {
    const int idx = resultAssignment_[slot];
    if (idx >= 0 && idx < static_cast<int>(inputs_.size())) return inputs_[idx].image;
  }
  return {};
}

at::Tensor Document::resultInput(int slot) const {
  if (script_) {
    return scriptRun_ && slot >= 0 && slot < static_cast<int>(scriptRun_->inputs.size())
               ? scriptRun_->inputs[static_cast<size_t>(slot)]
               : at::Tensor();
  }
  if (slot >= 0 && slot < static_cast<int>(resultAssignment_.size())) {
    const int idx = resultAssignment_[slot];
    if (idx >= 0 && idx < static_cast<int>(inputs_.size())) return inputs_[idx].tensor;
  }
  return {};
}

void Document::setView(const ViewSettings& view) {
  const auto before = wantedOutputs();
  view_ = view;
  // Showing the attention matrix or cam asks for it (and leaving it asks for the fused run):
  // the request first, so the run is under way before the view asks for attention rows.
  if (wantedOutputs() != before) Q_EMIT requestChanged();
  Q_EMIT viewChanged();
}

void Document::setComparison(figure::FigureSpec spec) {
  spec.inputs.clear();  // the comparison follows the document's inputs
  spec.features.clear();
  if (spec.rows.empty()) spec.rows = comparison_.rows;
  if (spec.rows.empty()) spec.rows = {figure::FigureRow{}};
  const int n = static_cast<int>(spec.columns.size());
  if (spec.difference && (spec.difference->first < 0 || spec.difference->first >= n || spec.difference->second < 0 ||
                          spec.difference->second >= n || spec.difference->first == spec.difference->second)) {
    spec.difference.reset();
  }
  comparison_ = std::move(spec);
  Q_EMIT comparisonChanged();
}

void Document::addComparisonColumn(figure::FigureColumn column) {
  // A built-in module, or a point of a TorchScript file or capture (their files are checked
  // when the column runs).
  if (!registry_.find(column.module) && column.script.empty() && column.capture.empty()) return;
  comparison_.columns.push_back(std::move(column));
  Q_EMIT comparisonChanged();
}

void Document::removeComparisonColumn(int index) {
  if (index < 0 || index >= static_cast<int>(comparison_.columns.size())) return;
  comparison_.columns.erase(comparison_.columns.begin() + index);
  // The difference follows its two columns, and goes with either of them.
  if (auto& d = comparison_.difference) {
    if (d->first == index || d->second == index) {
      d.reset();
    } else {
      d = std::make_pair(d->first - (d->first > index), d->second - (d->second > index));
    }
  }
  Q_EMIT comparisonChanged();
}

void Document::clearComparisonColumns() {
  if (comparison_.columns.empty() && !comparison_.difference) return;
  comparison_.columns.clear();
  comparison_.difference.reset();
  Q_EMIT comparisonChanged();
}

void Document::moveComparisonColumn(int from, int to) {
  const int n = static_cast<int>(comparison_.columns.size());
  if (from < 0 || from >= n || to < 0 || to >= n || from == to) return;
  // Where every old index goes, so the difference keeps its two columns.
  std::vector<int> order(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  order.erase(order.begin() + from);
  order.insert(order.begin() + to, from);
  std::vector<int> newIndex(static_cast<size_t>(n));
  std::vector<figure::FigureColumn> reordered;
  for (int i = 0; i < n; ++i) {
    newIndex[static_cast<size_t>(order[static_cast<size_t>(i)])] = i;
    reordered.push_back(comparison_.columns[static_cast<size_t>(order[static_cast<size_t>(i)])]);
  }
  comparison_.columns = std::move(reordered);
  if (auto& d = comparison_.difference) {
    d = std::make_pair(newIndex[static_cast<size_t>(d->first)], newIndex[static_cast<size_t>(d->second)]);
  }
  Q_EMIT comparisonChanged();
}

void Document::setComparisonColumnLabel(int index, const std::string& label) {
  if (index < 0 || index >= static_cast<int>(comparison_.columns.size())) return;
  if (comparison_.columns[static_cast<size_t>(index)].label == label) return;
  comparison_.columns[static_cast<size_t>(index)].label = label;
  Q_EMIT comparisonChanged();
}

void Document::setComparisonRows(std::vector<figure::FigureRow> rows) {
  if (rows.empty()) rows = {figure::FigureRow{}};
  comparison_.rows = std::move(rows);
  Q_EMIT comparisonChanged();
}

void Document::setComparisonDifference(std::optional<std::pair<int, int>> pair) {
  const int n = static_cast<int>(comparison_.columns.size());
  if (pair && (pair->first < 0 || pair->first >= n || pair->second < 0 || pair->second >= n || pair->first == pair->second)) {
    pair.reset();
  }
  if (pair == comparison_.difference) return;
  comparison_.difference = pair;
  Q_EMIT comparisonChanged();
}

void Document::setComparisonScale(render::NormMode mode, bool shared) {
  if (comparison_.scale.norm.mode == mode && comparison_.scale.shared == shared) return;
  comparison_.scale.norm.mode = mode;
  comparison_.scale.shared = shared;
  Q_EMIT comparisonChanged();
}

void Document::setComparisonWidth(double inches) {
  if (!(inches > 0) || comparison_.layout.widthIn == inches) return;
  comparison_.layout.widthIn = inches;
  Q_EMIT comparisonChanged();
}

figure::FigureSpec Document::comparisonSpec() const {
  figure::FigureSpec s = comparison_;
  s.inputs.clear();
  s.features.clear();
  // The inputs assigned to the current module, in its input order; else every opened input.
  std::vector<int> order;
  for (int i : assignment_) {
    if (i >= 0) order.push_back(i);
  }
  // A column may need more inputs than the main module takes (aff beside eca): then the
  // opened inputs in order, as many as the hungriest column needs.
  size_t needed = 1;
  for (const auto& c : s.columns) {
    if (const ModuleDescriptor* d = registry_.find(c.module)) needed = std::max(needed, d->inputs.size());
  }
  if (order.size() < needed) {
    order.clear();
    for (int i = 0; i < static_cast<int>(inputs_.size()) && order.size() < needed; ++i) order.push_back(i);
  }
  for (int i : order) {
    const InputItem& in = inputs_[static_cast<size_t>(i)];
    s.inputs.push_back({in.path.toStdString(), {}});
    if (!in.featureSpec.isEmpty()) s.features.push_back(in.featureSpec.toStdString());
  }
  s.scale.colormap = render::parseColormap(view_.colormap.toStdString());
  if (render::isDiverging(s.scale.colormap)) s.scale.colormap = render::Colormap::Viridis;
  s.alpha = view_.alpha;
  s.batch = std::max(0, view_.batch);
  return s;
}

void Document::restore(DocumentState state) {
  inputs_ = std::move(state.inputs);
  ++inputsRevision_;
  moduleId_ = registry_.find(state.moduleId.toStdString()) ? state.moduleId : QString();
  wantEverything_ = false;
  params_ = std::move(state.params);
  weightsPath_ = state.weights ? state.weightsPath : QString();
  weights_ = std::move(state.weights);
  // A session replaces the whole state: weights of the old one's modules go too.
  moduleWeights_.clear();
  if (weights_ && !moduleId_.isEmpty()) moduleWeights_[moduleId_] = {weightsPath_, weights_};
  device_ = state.device;
  memoryBudget_ = std::max<int64_t>(0, state.memoryBudget);
  view_ = state.view;
  resetAssignment();
  for (size_t i = 0; i < assignment_.size() && i < state.assignment.size(); ++i) {
    const int idx = state.assignment[i];
    assignment_[i] = idx >= 0 && idx < static_cast<int>(inputs_.size()) ? idx : -1;
  }
  result_.reset();
  script_.reset();  // a session with a script source sets it again (ScriptController)
  scriptRun_.reset();
  resultContext_ = ResultContext{};
  resultAssignment_.clear();
  queryRows_ = QueryRows{};
  wantedQuery_ = QPoint(-1, -1);
  lastError_.clear();
  // The comparison comes with the state: whoever follows the signals below sees the new
  // columns on the new inputs, never the old columns on the new inputs.
  {
    const QSignalBlocker quiet(this);  // one comparisonChanged, below
    setComparison(std::move(state.comparison));
  }
  Q_EMIT moduleChanged();
  Q_EMIT inputsChanged();
  Q_EMIT requestChanged();
  Q_EMIT resultChanged();
  Q_EMIT viewChanged();
  Q_EMIT comparisonChanged();
  Q_EMIT scriptChanged();
}

// Script source --------------------------------------------------------------------------
// (Kept together here, apart from the module's functions above.)

QString Document::scriptBlocksModule() const {
  return tr("%1 is open (File > Open); Back to modules (Points dock) runs a built-in instead.")
      .arg(QFileInfo(script_->path).fileName());
}

void Document::setScript(ScriptSource source) {
  script_ = std::move(source);
  scriptRun_.reset();
  Q_EMIT scriptChanged();
  Q_EMIT requestChanged();  // a built-in run still on its way is now stale
}

void Document::closeScript() {
  if (!script_) return;
  script_.reset();
  scriptRun_.reset();
  result_.reset();  // its points belong to the script
  Q_EMIT scriptChanged();
  Q_EMIT requestChanged();
  Q_EMIT resultChanged();
  Q_EMIT viewChanged();
}

void Document::setScriptPreprocess(const std::string& text) {
  if (!script_ || script_->preprocess == text) return;
  script_->preprocess = text;
  Q_EMIT scriptChanged();
  Q_EMIT requestChanged();
}

void Document::setScriptModuleOutputs(bool on) {
  if (!script_ || script_->moduleOutputs == on) return;
  script_->moduleOutputs = on;
  Q_EMIT scriptChanged();
  Q_EMIT requestChanged();
}

void Document::setScriptImageInput(bool on) {
  if (!script_ || script_->imageInput == on) return;
  script_->imageInput = on;
  Q_EMIT scriptChanged();
  Q_EMIT requestChanged();
}

QString Document::scriptReadiness() const {
  if (!script_) return tr("No TorchScript file or capture is open.");
  if (script_->kind == ScriptKind::Capture) return {};  // it carries its own inputs
  if (!script_->model) return tr("%1 has nothing to run.").arg(QFileInfo(script_->path).fileName());
  if (script_->imageInput) {
    for (const InputItem& in : inputs_) {
      if (!in.image.isNull()) return {};
    }
    return tr("Open a photo (File > Open) for %1: it takes an image.").arg(QFileInfo(script_->path).fileName());
  }
  const size_t needed = script_->model->inputNames().size();
  if (inputs_.size() < needed) {
    return tr("%1 takes %2 input(s); open %3 more (File > Open).")
        .arg(QFileInfo(script_->path).fileName())
        .arg(needed)
        .arg(needed - inputs_.size());
  }
  return {};
}

QString Document::moduleUnusedReason() const {
  if (!script_) return {};
  return tr("Not used while %1 is open: %2 runs instead of the module. Back to modules (Points dock) runs the "
            "module again.")
      .arg(QFileInfo(script_->path).fileName(),
           script_->kind == ScriptKind::Capture ? tr("the capture") : tr("its TorchScript"));
}

QString Document::featuresUnusedReason() const {
  if (!script_) return {};
  if (script_->kind == ScriptKind::Capture) {
    return tr("Not used while %1 is open: the capture brings its own inputs. Back to modules (Points dock) uses "
              "them again.")
        .arg(QFileInfo(script_->path).fileName());
  }
  if (!script_->imageInput) return {};
  return tr("Not used while %1 is open: the network reads the photo itself, preprocessed as the Points dock "
            "says. Back to modules (Points dock) uses them again.")
      .arg(QFileInfo(script_->path).fileName());
}

void Document::setScriptResult(ScriptRun run, RunResult result, ResultContext context) {
  if (!script_) return;
  scriptRun_ = std::move(run);
  setResult(std::move(result), std::move(context));
}

}  // namespace fl::ui
