#include "core/common/error.h"

namespace fl {

void throwUsage(const std::string& message, Subject subject, std::optional<Fix> fix) {
  throw Error(ErrorKind::Usage, message, std::move(subject), std::move(fix));
}
void throwInput(const std::string& message, Subject subject, std::optional<Fix> fix) {
  throw Error(ErrorKind::Input, message, std::move(subject), std::move(fix));
}

std::string firstLine(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

}  // namespace fl
