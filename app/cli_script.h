#pragma once
// `fusionlens-cli inspect FILE.pt`, `run --script FILE.pt` and `run --capture FILE.flcap`
// (your network, your module). Wiring only; the work is in core/script/.
#include <string>
#include <vector>

#include "core/modules/registry.h"

namespace fl::cli {

/// The help text of these commands (part of `fusionlens-cli --help`).
extern const char* const kScriptUsage;

/// True when `path` is a TorchScript archive (inspect then lists its attention points).
bool isScriptFile(const std::string& path);

/// The arguments after the command name. Return the exit status (run --capture: 3 when the
/// built-in differs from the captured run); throw fl::Error for bad usage or input.
int cmdInspectScript(const std::vector<std::string>& args);
int cmdRunScript(const std::vector<std::string>& args);
int cmdRunCapture(const std::vector<std::string>& args, const ModuleRegistry& registry);

}  // namespace fl::cli
