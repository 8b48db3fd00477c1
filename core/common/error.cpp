#include "core/common/error.h"

namespace fl {

void throwUsage(const std::string& message, Subject subject, std::optional<Fix> fix) {
  throw Error(ErrorKind::Usage, message, std::move(subject), std::move(fix));
}
void throwInput(const std::string& message, Subject subject, std::optional<Fix> fix) {
  throw Error(ErrorKind::Input, message, std::move(subject), std::move(fix));
}

std::string firstLine(const std::string& text) {
  // The first line that says something: LibTorch's messages often start with a newline.
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (text.find_first_not_of(" \t\r", start) < end) return text.substr(start, end - start);
    start = end + 1;
  }
  return std::string();
}

}  // namespace fl
