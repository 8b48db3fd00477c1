#include "core/common/error.h"

namespace fl {

void throwUsage(const std::string& message) { throw Error(ErrorKind::Usage, message); }
void throwInput(const std::string& message) { throw Error(ErrorKind::Input, message); }

std::string firstLine(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

}  // namespace fl
