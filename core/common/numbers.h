#pragma once
/// The one parser for numbers a person types: CLI flags, `--set`, shapes, feature specs,
/// figure-spec views, sessions, GUI fields. The whole text must be the number (no trailing
/// junk, no spaces), overflow is an error and never wraps, and nothing here throws anything
/// but fl::Error(Usage) (std::stoll/std::stod throw std::out_of_range, which would surface as
/// an internal error).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fl {

/// A decimal integer ("42", "-3", "+7"), or nullopt when `text` is empty, has anything else in
/// it, or does not fit in 64 bits.
std::optional<int64_t> toInteger(std::string_view text);

/// A finite decimal number ("0.5", "1e-3", "-2"), or nullopt (empty, junk, inf/nan, overflow).
std::optional<double> toReal(std::string_view text);

/// toInteger() within [lo, hi]; otherwise fl::Error(Usage)
/// "FIELD 'TEXT' is not an integer in [lo, hi]" (with "(too large)" etc. when that is why).
int64_t parseInteger(std::string_view text, const std::string& field, int64_t lo, int64_t hi);

/// toReal() within [lo, hi]; otherwise fl::Error(Usage) "FIELD 'TEXT' is not a number in [lo, hi]".
double parseReal(std::string_view text, const std::string& field, double lo, double hi);

/// A text for messages: at most 40 characters of `text`, with "..." when cut.
std::string clipForMessage(std::string_view text);

}  // namespace fl
