#include "core/modules/params.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "core/common/error.h"
#include "core/common/numbers.h"

namespace fl {

const char* paramTypeName(ParamType type) {
  switch (type) {
    case ParamType::Int: return "int";
    case ParamType::Float: return "float";
    case ParamType::Bool: return "bool";
    case ParamType::Choice: return "choice";
    case ParamType::IntList: return "int-list";
  }
  return "?";
}

namespace {

std::string formatNumber(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

bool parseInt(const std::string& text, int64_t* out) {
  const auto v = toInteger(text);  // the one number parser (core/common/numbers.h)
  if (v) *out = *v;
  return v.has_value();
}

[[noreturn]] void badValue(const ParamSpec& spec, const std::string& text, const std::string& why) {
  throwUsage("parameter '" + spec.name + "': '" + text + "' " + why);
}

void checkRange(const ParamSpec& spec, const std::string& text, double v) {
  if (v < spec.min || v > spec.max) {
    badValue(spec, text,
             "is out of range [" + formatNumber(spec.min) + ", " + formatNumber(spec.max) + "]");
  }
}

}  // namespace

ParamValue parseParam(const ParamSpec& spec, const std::string& text) {
  switch (spec.type) {
    case ParamType::Int: {
      int64_t v = 0;
      if (!parseInt(text, &v)) badValue(spec, text, "is not an integer");
      checkRange(spec, text, static_cast<double>(v));
      return v;
    }
    case ParamType::Float: {
      const auto v = toReal(text);
      if (!v) badValue(spec, text, "is not a finite number");
      checkRange(spec, text, *v);
      return *v;
    }
    case ParamType::Bool: {
      if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "0" || text == "no" || text == "off") return false;
      badValue(spec, text, "is not a boolean (use true or false)");
    }
    case ParamType::Choice: {
      for (const auto& c : spec.choices) {
        if (c == text) return text;
      }
      std::string list;
      for (const auto& c : spec.choices) list += (list.empty() ? "" : "|") + c;
      badValue(spec, text, "is not one of " + list);
    }
    case ParamType::IntList: {
      std::vector<int64_t> values;
      std::stringstream ss(text);
      std::string item;
      while (std::getline(ss, item, ',')) {
        int64_t v = 0;
        if (!parseInt(item, &v)) badValue(spec, text, "is not a comma-separated list of integers");
        checkRange(spec, text, static_cast<double>(v));
        values.push_back(v);
      }
      if (values.empty()) badValue(spec, text, "is an empty list");
      return values;
    }
  }
  throw Error(ErrorKind::Internal, "unknown parameter type");
}

Params resolveParams(const std::string& moduleId, const std::vector<ParamSpec>& specs,
                     const std::map<std::string, std::string>& overrides) {
  Params params;
  for (const auto& spec : specs) params.set(spec.name, parseParam(spec, spec.defaultValue));
  for (const auto& [name, text] : overrides) {
    const ParamSpec* found = nullptr;
    for (const auto& spec : specs) {
      if (spec.name == name) found = &spec;
    }
    if (found == nullptr) {
      std::string known;
      for (const auto& spec : specs) known += (known.empty() ? "" : ", ") + spec.name;
      throwUsage("module '" + moduleId + "' has no parameter '" + name + "'" +
                 (known.empty() ? " (it takes none)" : " (known: " + known + ")"));
    }
    params.set(name, parseParam(*found, text));
  }
  return params;
}

const ParamValue& Params::at(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) throw Error(ErrorKind::Internal, "no parameter '" + name + "'");
  return it->second;
}

int64_t Params::getInt(const std::string& name) const { return std::get<int64_t>(at(name)); }
double Params::getFloat(const std::string& name) const { return std::get<double>(at(name)); }
bool Params::getBool(const std::string& name) const { return std::get<bool>(at(name)); }
const std::string& Params::getChoice(const std::string& name) const {
  return std::get<std::string>(at(name));
}
const std::vector<int64_t>& Params::getIntList(const std::string& name) const {
  return std::get<std::vector<int64_t>>(at(name));
}

std::string Params::text(const std::string& name) const {
  const ParamValue& v = at(name);
  if (auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (auto* d = std::get_if<double>(&v)) return formatNumber(*d);
  if (auto* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  std::string out;
  for (int64_t x : std::get<std::vector<int64_t>>(v)) out += (out.empty() ? "" : ",") + std::to_string(x);
  return out;
}

}  // namespace fl
