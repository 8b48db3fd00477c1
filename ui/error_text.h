#pragma once
// The window's words for an fl::Error: the core's fact, then its fix said as what to change
// where in the window ("set kernel_size to 5 in the Module dock").
#include <QString>

#include "core/common/error.h"

namespace fl::ui {

/// The fix in the window's words.
QString fixText(const Fix& fix);

/// One line for the status bar or a panel: the message, then the fix, if any.
QString guiText(const Error& error);

}  // namespace fl::ui
