#pragma once
// A "script source": a TorchScript file (a module or a whole network) or a capture from
// PyTorch (.flcap) opened in the window instead of a built-in module. The Document holds it
// (Document::script()); ScriptController loads and runs it on the job service; PointsPanel
// shows its points. Plain data: no behaviour here.
#include <QImage>
#include <QString>
#include <memory>
#include <string>
#include <vector>

#include "core/script/capture.h"
#include "core/script/script_model.h"

namespace fl::ui {

enum class ScriptKind { TorchScript, Capture };

/// What a capture's check said (core/script/capture.h's checkCapture, run once at open).
struct CaptureStatus {
  QString moduleId;     ///< the built-in the class maps to; empty: none
  bool matches = false;
  double maxDiff = 0;
  QString text;         ///< "matches your PyTorch run, max |diff| 2e-7", "differs from ...", ...
};

struct ScriptSource {
  ScriptKind kind = ScriptKind::TorchScript;
  QString path;
  QString sha256;  ///< of the file as opened
  /// The loaded program: the TorchScript file, or the capture's own trace (null when a capture
  /// matches its built-in, or has no trace).
  std::shared_ptr<const script::ScriptModel> model;
  std::shared_ptr<const Capture> capture;  ///< captures only
  CaptureStatus status;                    ///< captures only
  /// The built-in's run on the capture's weights and inputs, when it matched.
  std::shared_ptr<const RunResult> builtinResult;
  /// A whole network on an image: the first opened image goes through `preprocess`. Else the
  /// opened inputs' tensors (features, tensor files) feed its inputs in order.
  bool imageInput = false;
  std::string preprocess;  ///< core/features/preprocess.h's text form
  bool moduleOutputs = false;
  /// Class names for [1,K] logits (the shipped demo networks' manifest); empty: "class k".
  std::vector<std::string> classNames;
};

/// The last run of the script source.
struct ScriptRun {
  script::ScriptRunResult result;  ///< points and outputs (empty for a matched capture)
  QImage image;                    ///< under the overlays: the preprocessed photo, or the capture's image
  std::vector<at::Tensor> inputs;  ///< what fed the run
  QString prediction;              ///< "Ankle boot (softmax 0.93)" for [1,K] logits; else empty
};

}  // namespace fl::ui
