#pragma once
// `fusionlens-cli render`: figures from a spec, headless (Qt Gui on the offscreen platform).
// A translation unit of its own so that Qt headers stay out of the torch-heavy CLI main.
#include <string>
#include <vector>

namespace fl::cli {

/// The help text of `render` (part of `fusionlens-cli --help`).
extern const char* const kRenderUsage;

/// Runs `render` with the arguments after the command name. Returns the exit status; throws
/// fl::Error for bad usage or input (the caller prints it and exits 2).
int cmdRender(const std::vector<std::string>& args);

}  // namespace fl::cli
