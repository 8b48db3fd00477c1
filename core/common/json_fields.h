#pragma once
/// Checked reads of JSON fields for the files users write by hand (figure specs, sessions):
/// every failure is fl::Error(Usage) "WHERE: 'KEY' WHAT", so a message names the file and the
/// key. Header-only users pass nlohmann::ordered_json.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace fl::json {

using Json = nlohmann::ordered_json;

/// Hand-written JSON files (figure specs, sessions) larger than this are refused before they
/// are read: no real one comes near it, and nlohmann::json needs several times the text.
constexpr uint64_t kMaxFileBytes = uint64_t{16} << 20;

/// Parses a whole file's JSON text, which must be an object; otherwise fl::Error(Usage)
/// "where: not a KIND (not valid JSON: ...)" or "(not a JSON object)".
Json parseObject(const std::string& text, const std::string& where, const std::string& kind);

/// The object's `schema_version`: present, an integer >= 1 and not above `newest` (else
/// the file comes from a newer FusionLens and is refused, saying so).
int schemaVersion(const Json& root, const std::string& where, int newest, const std::string& kind);

/// Throws fl::Error(Usage): "where: 'key' what".
[[noreturn]] void bad(const std::string& where, const std::string& key, const std::string& what);

/// Refuses keys outside `allowed` (a misspelt key must not silently leave a default in
/// place); `context` prefixes the key in the message (e.g. "layout.").
void onlyKeys(const Json& obj, const std::set<std::string>& allowed, const std::string& where,
              const std::string& context);

std::string str(const Json& j, const std::string& where, const std::string& key);
/// A finite number in [lo, hi].
double num(const Json& j, const std::string& where, const std::string& key, double lo, double hi);
bool boolean(const Json& j, const std::string& where, const std::string& key);
/// An integer in [lo, hi].
int64_t integer(const Json& j, const std::string& where, const std::string& key, int64_t lo, int64_t hi);
/// A module parameter value: strings, numbers, booleans and lists of integers become the
/// `--set KEY=VALUE` text.
std::string paramText(const Json& j, const std::string& where, const std::string& key);

}  // namespace fl::json
