#include "core/common/json_fields.h"

#include <cmath>
#include <cstdint>
#include <sstream>

#include "core/common/error.h"

namespace fl::json {

[[noreturn]] void bad(const std::string& where, const std::string& key, const std::string& what) {
  throw Error(ErrorKind::Usage, where + ": '" + key + "' " + what);
}

Json parseObject(const std::string& text, const std::string& where, const std::string& kind) {
  if (text.size() > kMaxFileBytes) {  // callers that read the text themselves
    throw Error(ErrorKind::Input, where + ": is " + std::to_string(text.size()) + " bytes; a " + kind +
                                      " is at most " + std::to_string(kMaxFileBytes) + " bytes");
  }
  Json root;
  try {
    root = Json::parse(text);
  } catch (const std::exception& e) {
    throw Error(ErrorKind::Usage, where + ": not a " + kind + " (not valid JSON: " + e.what() + ")");
  }
  if (!root.is_object()) throw Error(ErrorKind::Usage, where + ": not a " + kind + " (not a JSON object)");
  return root;
}

int schemaVersion(const Json& root, const std::string& where, int newest, const std::string& kind) {
  if (!root.contains("schema_version")) bad(where, "schema_version", "is missing (not a " + kind + "?)");
  const int v = static_cast<int>(integer(root["schema_version"], where, "schema_version", 1, 1 << 20));
  if (v > newest) {
    bad(where, "schema_version",
        "is " + std::to_string(v) + "; this FusionLens reads up to " + std::to_string(newest) + " (the " +
            kind + " comes from a newer version)");
  }
  return v;
}

// Refuses keys outside `allowed`: a misspelt key must not silently leave a default in place.
void onlyKeys(const Json& obj, const std::set<std::string>& allowed, const std::string& where,
              const std::string& context) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!allowed.count(it.key())) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      bad(where, context + it.key(), "is not a known key (known: " + list + ")");
    }
  }
}

std::string str(const Json& j, const std::string& where, const std::string& key) {
  if (!j.is_string()) bad(where, key, "must be a string");
  return j.get<std::string>();
}

double num(const Json& j, const std::string& where, const std::string& key, double lo, double hi) {
  if (!j.is_number()) bad(where, key, "must be a number");
  const double v = j.get<double>();
  if (!std::isfinite(v) || v < lo || v > hi) {
    std::ostringstream os;
    os << "must be in [" << lo << ", " << hi << "], got " << v;
    bad(where, key, os.str());
  }
  return v;
}

bool boolean(const Json& j, const std::string& where, const std::string& key) {
  if (!j.is_boolean()) bad(where, key, "must be true or false");
  return j.get<bool>();
}

int64_t integer(const Json& j, const std::string& where, const std::string& key, int64_t lo,
                int64_t hi) {
  if (!j.is_number_integer()) bad(where, key, "must be an integer");
  if (j.is_number_unsigned() && j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    bad(where, key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                        std::to_string(j.get<uint64_t>()));
  }
  const int64_t v = j.get<int64_t>();
  if (v < lo || v > hi) {
    bad(where, key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                        std::to_string(v));
  }
  return v;
}

/// A parameter value: JSON strings, numbers and booleans become the `--set` text.
std::string paramText(const Json& j, const std::string& where, const std::string& key) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_boolean()) return j.get<bool>() ? "true" : "false";
  if (j.is_number_integer()) return std::to_string(j.get<int64_t>());
  if (j.is_number()) {
    std::ostringstream os;
    os.precision(17);
    os << j.get<double>();
    return os.str();
  }
  if (j.is_array()) {  // IntList parameters, e.g. atrous_rates [2,4,8]
    std::string out;
    for (const auto& e : j) {
      if (!e.is_number_integer()) bad(where, key, "must be a list of integers");
      out += (out.empty() ? "" : ",") + std::to_string(e.get<int64_t>());
    }
    return out;
  }
  bad(where, key, "must be a string, number, boolean or list of integers");
}

}  // namespace fl::json
