#pragma once
/// Typed module parameters: declared by a ModuleDescriptor, set from text (CLI, GUI,
/// session files), validated against their declared range before anything runs.
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace fl {

enum class ParamType { Int, Float, Bool, Choice, IntList };

const char* paramTypeName(ParamType type);

/// One declared parameter, e.g. `r` (Int, default 4, range [1,1024]).
struct ParamSpec {
  std::string name;
  ParamType type = ParamType::Int;
  std::string defaultValue;           ///< as text, e.g. "4", "true", "seed", "2,4,8"
  double min = 0;                     ///< Int/Float/IntList element range (inclusive)
  double max = 0;
  std::vector<std::string> choices;   ///< Choice only
  std::string help;
};

using ParamValue = std::variant<int64_t, double, bool, std::string, std::vector<int64_t>>;

/// Resolved, validated parameter values of one module instance.
class Params {
 public:
  int64_t getInt(const std::string& name) const;
  double getFloat(const std::string& name) const;
  bool getBool(const std::string& name) const;
  const std::string& getChoice(const std::string& name) const;
  const std::vector<int64_t>& getIntList(const std::string& name) const;
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  void set(const std::string& name, ParamValue value) { values_[name] = std::move(value); }
  const std::map<std::string, ParamValue>& values() const { return values_; }
  /// Canonical text of one value ("4", "0.5", "true", "seed", "2,4,8").
  std::string text(const std::string& name) const;

 private:
  const ParamValue& at(const std::string& name) const;
  std::map<std::string, ParamValue> values_;
};

/// Parses `text` as a value of `spec`; throws fl::Error(Usage) naming the parameter,
/// the bad text and the accepted range or choices.
ParamValue parseParam(const ParamSpec& spec, const std::string& text);

/// Defaults of `specs`, overridden by `overrides` (name -> text). Unknown names are an
/// error that lists the known ones.
Params resolveParams(const std::string& moduleId, const std::vector<ParamSpec>& specs,
                     const std::map<std::string, std::string>& overrides);

}  // namespace fl
