#include "ui/document.h"

#include <algorithm>

namespace fl::ui {

Document::Document(const ModuleRegistry& registry, QObject* parent)
    : QObject(parent), registry_(registry) {}

void Document::addInput(InputItem item) {
  inputs_.push_back(std::move(item));
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

void Document::removeInput(int index) {
  if (index < 0 || index >= static_cast<int>(inputs_.size())) return;
  inputs_.erase(inputs_.begin() + index);
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
  if (id == moduleId_ || registry_.find(id.toStdString()) == nullptr) return;
  moduleId_ = id;
  params_.clear();
  weightsPath_.clear();
  weights_.reset();
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
  Q_EMIT requestChanged();
}

void Document::clearWeights() {
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

QString Document::readiness() const {
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
    const std::string err = d->check(p, shapes);
    return QString::fromStdString(err);
  } catch (const std::exception& e) {
    return QString::fromStdString(e.what());
  }
}

RunRequest Document::makeRequest(uint64_t requestId) const {
  RunRequest req;
  req.requestId = requestId;
  req.moduleId = moduleId_.toStdString();
  req.params = params_;
  req.weights = weights_;
  req.device = device_;
  for (int idx : assignment_) {
    if (idx >= 0 && idx < static_cast<int>(inputs_.size())) req.inputs.push_back(inputs_[idx].tensor);
  }
  return req;
}

void Document::setResult(RunResult result) {
  result_ = std::move(result);
  resultAssignment_ = assignment_;
  lastError_.clear();
  // Keep the view on the same tensor when the new result has it; else pick the first probe.
  ViewSettings v = view_;
  bool found = false;
  for (const auto& p : result_->probes) found |= v.tensor == QStringLiteral("probe.") + QString::fromStdString(p.name);
  for (const auto& o : result_->outputNames) found |= v.tensor == QString::fromStdString(o);
  if (!found) {
    v.tensor = result_->probes.empty() ? QString::fromStdString(result_->outputNames.front())
                                       : QStringLiteral("probe.") + QString::fromStdString(result_->probes.front().name);
    v.channel = -1;
    v.head = -1;
    v.queryX = v.queryY = -1;
  }
  view_ = v;
  Q_EMIT resultChanged();
  Q_EMIT viewChanged();
}

void Document::setRunError(const QString& message) {
  lastError_ = message;
  Q_EMIT runFailed(message);
}

QImage Document::baseImage(int slot) const {
  if (slot >= 0 && slot < static_cast<int>(resultAssignment_.size())) {
    const int idx = resultAssignment_[slot];
    if (idx >= 0 && idx < static_cast<int>(inputs_.size())) return inputs_[idx].image;
  }
  return {};
}

at::Tensor Document::resultInput(int slot) const {
  if (slot >= 0 && slot < static_cast<int>(resultAssignment_.size())) {
    const int idx = resultAssignment_[slot];
    if (idx >= 0 && idx < static_cast<int>(inputs_.size())) return inputs_[idx].tensor;
  }
  return {};
}

void Document::setView(const ViewSettings& view) {
  view_ = view;
  Q_EMIT viewChanged();
}

}  // namespace fl::ui
