#pragma once
/// Captures from PyTorch (python/fusionlens_capture.py): one
/// .safetensors file holding a module's inputs, outputs and state_dict as the user's own
/// PyTorch run saw them, an optional image, a TorchScript trace of the module, and metadata
/// (class name, module path, constructor arguments, torch version).
///
/// FusionLens checks its picture against that run: when the class is one of the built-in
/// modules, the built-in runs with the captured weights and inputs and its output is compared
/// with the captured one; otherwise, or when they differ, the embedded trace is what runs.
#include <ATen/core/Tensor.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/io/tensor_io.h"
#include "core/modules/registry.h"
#include "core/run/run.h"

namespace fl {

/// Tensor names in a capture file.
///   input.0, input.1, ...   the module's positional tensor inputs
///   output.0, output.1, ... its tensor outputs, flattened in order (tuples, lists, dicts)
///   state.KEY               its state_dict
///   image                   the image given to capture(), if any
///   script                  the TorchScript trace (uint8 bytes of a torch.jit.save file)
/// Metadata: format = "fusionlens-capture", format_version = "1", class, qualname,
/// module_path, init_args (a JSON object), torch_version, and trace_error when no trace.
struct Capture {
  std::string path;
  std::string className;
  std::string qualname;
  std::string modulePath;
  std::string torchVersion;
  std::map<std::string, std::string> initArgs;  ///< name -> value as CLI text
  std::vector<at::Tensor> inputs;
  NamedTensors outputs;
  NamedTensors state;  ///< keys without the "state." prefix
  std::optional<at::Tensor> image;
  std::vector<uint8_t> script;  ///< empty when the module could not be traced
  std::string traceError;
};

/// Reads and validates a capture file. Throws fl::Error(Input) naming the file.
Capture readCapture(const std::string& path);

/// The built-in module id for a PyTorch class name ("AFF" -> "aff", "eca_layer" -> "eca"),
/// or "" when none fits.
std::string builtinForClass(const std::string& className);

/// The outcome of running the built-in against a capture.
struct CaptureCheck {
  std::string moduleId;  ///< "" when the class maps to no built-in
  bool ran = false;      ///< the built-in took the captured weights and inputs and ran
  bool matches = false;  ///< ran, and every output is within tolerance
  double maxDiff = 0;    ///< max |built-in - captured| over the compared outputs
  std::string reason;    ///< why it does not match (one line), when !matches
  std::map<std::string, std::string> params;  ///< the built-in's parameters used
  RunResult result;      ///< the built-in's result when it ran
};

/// Absolute tolerance of the check, scaled by max(1, max |captured output|).
constexpr double kCaptureTolerance = 1e-4;

/// Runs the built-in for `capture` (parameters from its constructor arguments; an integer
/// parameter the arguments do not give is searched so the weights load) and compares.
CaptureCheck checkCapture(const ModuleRegistry& registry, const Capture& capture);

/// A TorchScript run as a RunResult (module id `id`): its outputs, and its captured points
/// as probes (unclassified ones as feature maps when 4-D, else under their own shape), so
/// the writers of core/run/result_export.h save them as `run --save` does.
RunResult scriptRunAsResult(const std::string& id, const std::vector<std::pair<std::string, at::Tensor>>& outputs,
                            const std::vector<std::pair<std::string, at::Tensor>>& probes,
                            const std::vector<ProbeKind>& kinds);

/// Writes the embedded trace to a private temporary file and returns its path (the
/// caller loads it with ScriptModel::load and removes it with removeCaptureScript).
/// Throws fl::Error(Input) when the capture has no trace, saying why.
std::string writeCaptureScript(const Capture& capture);
void removeCaptureScript(const std::string& path);

}  // namespace fl
