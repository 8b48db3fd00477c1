#pragma once
// The Document owns the explorer's state: inputs, the chosen module and its parameters,
// weights, device, the last good result and the view settings (Tiled's MapDocument
// pattern). Views observe it; only controllers and views' user actions change it.
#include <ATen/core/Tensor.h>

#include <QImage>
#include <QObject>
#include <QString>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/io/state_dict.h"
#include "core/modules/registry.h"
#include "core/run/run.h"
#include "ui/view_settings.h"

namespace fl::ui {

/// One opened input: an image turned into features, or a tensor file.
struct InputItem {
  QString path;
  QString label;        ///< file name, plus the tensor name or feature spec
  QString featureSpec;  ///< for images: the extractor used
  at::Tensor tensor;    ///< [1|B, C, H, W] float32, CPU
  QImage image;         ///< the picture for overlays (RGB888); null for tensor files
};

class Document : public QObject {
  Q_OBJECT
 public:
  explicit Document(const ModuleRegistry& registry, QObject* parent = nullptr);

  const ModuleRegistry& registry() const { return registry_; }

  // Inputs -----------------------------------------------------------------------------
  const std::vector<InputItem>& inputs() const { return inputs_; }
  void addInput(InputItem item);
  void removeInput(int index);
  /// Which opened input feeds each named input of the module (-1 = none).
  const std::vector<int>& assignment() const { return assignment_; }
  void assign(int slot, int inputIndex);

  // Module ------------------------------------------------------------------------------
  QString moduleId() const { return moduleId_; }
  const ModuleDescriptor* descriptor() const;
  void setModule(const QString& id);
  const std::map<std::string, std::string>& params() const { return params_; }
  void setParam(const std::string& name, const std::string& value);
  QString weightsPath() const { return weightsPath_; }
  void setWeights(const QString& path, std::shared_ptr<const NamedTensors> weights);
  void clearWeights();
  DeviceChoice device() const { return device_; }
  void setDevice(DeviceChoice device);

  /// "" when a run can start, else why not (missing inputs, a failing constraint check).
  QString readiness() const;
  /// A snapshot of everything a run needs.
  RunRequest makeRequest(uint64_t requestId) const;

  // Results -----------------------------------------------------------------------------
  const RunResult* result() const { return result_ ? &*result_ : nullptr; }
  void setResult(RunResult result);     ///< a successful run; replaces the shown result
  void setRunError(const QString& message);  ///< a failed run; the last good result stays
  QString lastError() const { return lastError_; }

  /// The image under the overlay for the result's module input `slot` (may be null).
  QImage baseImage(int slot = 0) const;
  /// The tensor that fed the result's module input `slot` (undefined if gone).
  at::Tensor resultInput(int slot) const;

  // View settings -----------------------------------------------------------------------
  const ViewSettings& view() const { return view_; }
  void setView(const ViewSettings& view);

 Q_SIGNALS:
  void inputsChanged();
  void moduleChanged();
  /// Anything that changes what a run would compute (inputs, module, params, weights, device).
  void requestChanged();
  void resultChanged();
  void runFailed(const QString& message);
  void viewChanged();

 private:
  void resetAssignment();

  const ModuleRegistry& registry_;
  std::vector<InputItem> inputs_;
  std::vector<int> assignment_;
  QString moduleId_;
  std::map<std::string, std::string> params_;
  QString weightsPath_;
  std::shared_ptr<const NamedTensors> weights_;
  DeviceChoice device_ = DeviceChoice::Auto;
  std::optional<RunResult> result_;
  std::vector<int> resultAssignment_;
  QString lastError_;
  ViewSettings view_;
};

}  // namespace fl::ui
