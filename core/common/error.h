#pragma once
/// Errors that FusionLens reports to a person: what went wrong and where.
#include <stdexcept>
#include <string>

namespace fl {

/// Why an operation failed. The CLI maps Usage and Input (and Memory) to exit code 2.
enum class ErrorKind {
  Usage,     ///< bad command line or parameter value
  Input,     ///< a file or tensor that cannot be used (bad format, wrong shape, ...)
  Weights,   ///< a state_dict that does not match the module
  Memory,    ///< the estimated peak memory exceeds the budget
  Device,    ///< the requested device is not available
  TimeLimit,  ///< the estimated run time exceeds the limit (--max-time)
  Cancelled,  ///< stopped on request (Ctrl-C, a Cancel button); nothing was written
  Internal,  ///< a bug: should never reach a user
};

/// The one exception type the core throws on purpose. `what()` is a complete,
/// single-line message meant for a person.
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  ErrorKind kind() const { return kind_; }

 private:
  ErrorKind kind_;
};

/// Convenience constructors.
[[noreturn]] void throwUsage(const std::string& message);
[[noreturn]] void throwInput(const std::string& message);

/// First line of a c10::Error message, without LibTorch's C++ stack trace.
std::string firstLine(const std::string& text);

}  // namespace fl
