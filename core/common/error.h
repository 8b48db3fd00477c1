#pragma once
/// Errors that FusionLens reports to a person: what went wrong, what it is about, and
/// (when there is one) how to fix it. The core states the fact in neutral words; each front
/// end words the subject and the fix its own way (the CLI in flags, app/cli_wording.h; the
/// GUI in the window's words, ui/error_text.h), so core messages name no flag or widget.
#include <optional>
#include <utility>
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
  TimeLimit,  ///< the estimated run time exceeds the time limit
  Cancelled,  ///< stopped on request (Ctrl-C, a Cancel button); nothing was written
  Internal,  ///< a bug: should never reach a user
};

/// What an error is about.
enum class SubjectKind {
  None,
  File,       ///< name: the file's path as given
  Parameter,  ///< name: a module parameter ("kernel_size")
  Input,      ///< name: a module input slot ("x", "residual")
  /// name: a run setting, one of the kSetting* names below. A message about a setting's
  /// value starts with that name ("device 'tpu' is not ..."), so a front end can name the
  /// setting its own way there (the CLI by its flag).
  Setting,
};

/// Run settings an error can be about (Subject::name for SubjectKind::Setting).
inline constexpr const char* kSettingDevice = "device";
inline constexpr const char* kSettingMemoryBudget = "memory budget";
inline constexpr const char* kSettingTimeLimit = "time limit";
inline constexpr const char* kSettingOutputs = "outputs";
inline constexpr const char* kSettingFeatureSpec = "feature spec";

struct Subject {
  SubjectKind kind = SubjectKind::None;
  std::string name;
  bool operator==(const Subject& o) const { return kind == o.kind && name == o.name; }
};

/// A way out that a front end can offer in its own words.
enum class FixAction {
  SetParameter,       ///< set module parameter `name` to `value`
  OpenInput,          ///< give the module input `name` (a missing slot)
  RaiseMemoryBudget,  ///< allow more memory (`value`: a suggested budget, or empty)
  RaiseTimeLimit,     ///< allow a longer run (`value`: suggested seconds; 0 = no limit)
  ChooseFeatureSpec,  ///< pick a valid image feature spec
  ChoosePrefix,       ///< say where the module's tensors sit in the checkpoint
  InspectWeights,     ///< list the checkpoint's tensors to find them
  UseCpu,             ///< run on the CPU
  ReadAsWeights,      ///< the file is a checkpoint: load it as the module's weights
  IgnoreHashes,       ///< render although an input changed since the figure spec was written
};

struct Fix {
  FixAction action = FixAction::SetParameter;
  std::string name;   ///< the parameter or input (SetParameter, OpenInput)
  std::string value;  ///< the suggested value, when the action has one
  bool operator==(const Fix& o) const {
    return action == o.action && name == o.name && value == o.value;
  }
};

/// Fix: set parameter `name` to `value`.
inline Fix setParameter(std::string name, std::string value) {
  return Fix{FixAction::SetParameter, std::move(name), std::move(value)};
}
/// Fix: an action with an optional suggested value.
inline Fix fixBy(FixAction action, std::string value = {}) {
  return Fix{action, {}, std::move(value)};
}

/// The one exception type the core throws on purpose. `what()` is a complete,
/// single-line statement of the fact, in no front end's words; subject() and fix() say
/// what it is about and how to get past it (front ends add the fix in their words).
class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& message, Subject subject = {},
        std::optional<Fix> fix = std::nullopt)
      : std::runtime_error(message), kind_(kind), subject_(std::move(subject)), fix_(std::move(fix)) {}
  ErrorKind kind() const { return kind_; }
  const Subject& subject() const { return subject_; }
  const std::optional<Fix>& fix() const { return fix_; }

 private:
  ErrorKind kind_;
  Subject subject_;
  std::optional<Fix> fix_;
};

/// A check's verdict (ModuleDescriptor::check): empty when it passes, else the message,
/// subject and fix of the Error it becomes (error()). Made implicitly from a plain message
/// so checks without a subject stay short.
class Problem {
 public:
  Problem() = default;
  Problem(std::string message, Subject subject = {}, std::optional<Fix> fix = std::nullopt)
      : message_(std::move(message)), subject_(std::move(subject)), fix_(std::move(fix)) {}
  Problem(const char* message) : message_(message) {}
  bool empty() const { return message_.empty(); }
  const std::string& message() const { return message_; }
  const Subject& subject() const { return subject_; }
  const std::optional<Fix>& fix() const { return fix_; }
  Error error(ErrorKind kind) const { return Error(kind, message_, subject_, fix_); }

 private:
  std::string message_;
  Subject subject_;
  std::optional<Fix> fix_;
};

/// Convenience constructors.
[[noreturn]] void throwUsage(const std::string& message, Subject subject = {},
                             std::optional<Fix> fix = std::nullopt);
[[noreturn]] void throwInput(const std::string& message, Subject subject = {},
                             std::optional<Fix> fix = std::nullopt);

/// Subjects, briefly.
inline Subject fileSubject(std::string path) { return {SubjectKind::File, std::move(path)}; }
inline Subject parameterSubject(std::string name) { return {SubjectKind::Parameter, std::move(name)}; }
inline Subject inputSubject(std::string name) { return {SubjectKind::Input, std::move(name)}; }
inline Subject settingSubject(std::string name) { return {SubjectKind::Setting, std::move(name)}; }

/// The first non-blank line of a c10::Error message (without LibTorch's C++ stack trace).
std::string firstLine(const std::string& text);

}  // namespace fl
