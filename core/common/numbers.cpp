#include "core/common/numbers.h"

#include <charconv>
#include <cmath>
#include <sstream>

#include "core/common/error.h"

namespace fl {
namespace {

std::string_view dropPlus(std::string_view text) {
  // from_chars takes no leading '+', which people type ("+5" is a fine integer).
  if (text.size() > 1 && text[0] == '+' && text[1] != '-' && text[1] != '+') text.remove_prefix(1);
  return text;
}

std::string formatReal(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

std::string clipForMessage(std::string_view text) {
  if (text.size() <= 40) return std::string(text);
  return std::string(text.substr(0, 40)) + "...";
}

std::optional<int64_t> toInteger(std::string_view text) {
  text = dropPlus(text);
  if (text.empty()) return std::nullopt;
  int64_t v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<double> toReal(std::string_view text) {
  text = dropPlus(text);
  if (text.empty()) return std::nullopt;
  double v = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

int64_t parseInteger(std::string_view text, const std::string& field, int64_t lo, int64_t hi) {
  const auto v = toInteger(text);
  if (v && *v >= lo && *v <= hi) return *v;
  std::string why;
  if (v) {
    why = " (out of range)";
  } else {
    const std::string_view t = dropPlus(text);
    int64_t ignored = 0;
    const auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), ignored);
    if (ec == std::errc::result_out_of_range) why = " (too large)";
    else if (ec == std::errc() && ptr != t.data() + t.size()) why = " (trailing characters)";
  }
  throwUsage(field + " '" + clipForMessage(text) + "' is not an integer in [" + std::to_string(lo) +
             ", " + std::to_string(hi) + "]" + why);
}

double parseReal(std::string_view text, const std::string& field, double lo, double hi) {
  const auto v = toReal(text);
  if (v && *v >= lo && *v <= hi) return *v;
  throwUsage(field + " '" + clipForMessage(text) + "' is not a number in [" + formatReal(lo) + ", " +
             formatReal(hi) + "]");
}

}  // namespace fl
