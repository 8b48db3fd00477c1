#pragma once
// The CLI's words for an fl::Error: the core's fact with its subject and fix said in flags
// ("use --set kernel_size=5", "raise the budget with --max-memory").
#include <string>

#include "core/common/error.h"

namespace fl::cli {

/// The flag that sets a run setting (kSetting* names), or "" when the CLI has none.
std::string settingFlag(const std::string& setting);

/// The fix in the CLI's words ("use --set padding=same").
std::string fixText(const Fix& fix);

/// One line for stderr: the message (a run setting it starts with named by its flag), then
/// the fix, if any.
std::string cliText(const Error& error);

}  // namespace fl::cli
