// Captures from PyTorch: reading, mapping to a built-in, the check (see capture.h).
#include "core/script/capture.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/common/error.h"
#include "core/common/numbers.h"
#include "core/io/safetensors.h"
#include "core/modules/params.h"

namespace fl {
namespace {

using Json = nlohmann::json;

/// The __metadata__ object of a safetensors file whose tensors readSafetensors() has
/// already validated (so the header is known to be a bounded JSON object).
std::map<std::string, std::string> readMetadata(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint8_t lenBytes[8] = {};
  in.read(reinterpret_cast<char*>(lenBytes), 8);
  uint64_t len = 0;
  for (int i = 7; i >= 0; --i) len = (len << 8) | lenBytes[i];
  std::string text(static_cast<size_t>(len), '\0');
  in.read(text.data(), static_cast<std::streamsize>(len));
  const Json header = Json::parse(text, nullptr, false);
  std::map<std::string, std::string> out;
  if (header.is_discarded() || !header.is_object()) return out;
  const auto meta = header.find("__metadata__");
  if (meta == header.end() || !meta->is_object()) return out;
  for (auto it = meta->begin(); it != meta->end(); ++it) {
    if (it.value().is_string()) out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

std::string normalised(const std::string& name) {
  std::string s;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) s += static_cast<char>(std::tolower(c));
  }
  return s;
}

/// "output" / "output.N" -> N (the capture's flattened outputs are "output.N").
size_t indexAfterDot(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return 0;
  const std::optional<int64_t> n = toInteger(std::string_view(name).substr(dot + 1));
  return n && *n >= 0 ? static_cast<size_t>(*n) : 0;
}

bool isIndexName(const std::string& name, const std::string& prefix) {
  return name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
         name.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
}

}  // namespace

Capture readCapture(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throwInput(path + ": no such capture file", fileSubject(path));
  Capture cap;
  cap.path = path;
  const NamedTensors tensors = readSafetensors(path);
  const auto meta = readMetadata(path);
  const auto get = [&](const std::string& k) {
    const auto it = meta.find(k);
    return it == meta.end() ? std::string() : it->second;
  };
  if (get("format") != "fusionlens-capture") {
    throwInput(path + ": not a FusionLens capture (no metadata format=fusionlens-capture; "
               "write one with python/fusionlens_capture.py)");
  }
  if (get("format_version") != "1") {
    throwInput(path + ": capture format_version '" + get("format_version") +
               "' is not supported (this FusionLens reads 1)");
  }
  cap.className = get("class");
  cap.qualname = get("qualname");
  cap.modulePath = get("module_path");
  cap.torchVersion = get("torch_version");
  cap.traceError = get("trace_error");
  if (!get("init_args").empty()) {
    const Json args = Json::parse(get("init_args"), nullptr, false);
    if (args.is_discarded() || !args.is_object()) throwInput(path + ": metadata init_args is not a JSON object");
    for (auto it = args.begin(); it != args.end(); ++it) {
      const Json& v = it.value();
      if (v.is_boolean()) {
        cap.initArgs[it.key()] = v.get<bool>() ? "true" : "false";
      } else if (v.is_number_integer()) {
        cap.initArgs[it.key()] = std::to_string(v.get<int64_t>());
      } else if (v.is_number()) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.17g", v.get<double>());
        cap.initArgs[it.key()] = buf;
      } else if (v.is_string()) {
        cap.initArgs[it.key()] = v.get<std::string>();
      } else if (v.is_array()) {
        std::string s;
        for (const Json& e : v) {
          if (e.is_number_integer()) s += (s.empty() ? "" : ",") + std::to_string(e.get<int64_t>());
        }
        cap.initArgs[it.key()] = s;
      }
    }
  }
  std::vector<std::pair<size_t, at::Tensor>> inputs, outputs;
  for (const auto& [name, t] : tensors) {
    if (isIndexName(name, "input.")) {
      inputs.emplace_back(indexAfterDot(name), t);
    } else if (isIndexName(name, "output.")) {
      outputs.emplace_back(indexAfterDot(name), t);
    } else if (name.rfind("state.", 0) == 0) {
      cap.state.emplace_back(name.substr(6), t);
    } else if (name == "image") {
      cap.image = t;
    } else if (name == "script") {
      if (t.scalar_type() != at::kByte || t.dim() != 1) throwInput(path + ": 'script' is not a 1-D uint8 tensor");
      const uint8_t* p = t.data_ptr<uint8_t>();
      cap.script.assign(p, p + t.numel());
    }
  }
  std::sort(inputs.begin(), inputs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::sort(outputs.begin(), outputs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].first != i) throwInput(path + ": input." + std::to_string(i) + " is missing");
    cap.inputs.push_back(inputs[i].second.is_floating_point() ? inputs[i].second.to(at::kFloat) : inputs[i].second);
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].first != i) throwInput(path + ": output." + std::to_string(i) + " is missing");
    cap.outputs.emplace_back("output." + std::to_string(i), outputs[i].second.to(at::kFloat));
  }
  if (cap.inputs.empty()) throwInput(path + ": the capture holds no input tensors");
  if (cap.outputs.empty()) throwInput(path + ": the capture holds no output tensors");
  return cap;
}

std::string builtinForClass(const std::string& className) {
  static const std::map<std::string, std::string> names = {
      {"aff", "aff"},           {"iaff", "iaff"},
      {"mscam", "ms-cam"},      {"cbam", "cbam"},
      {"eca", "eca"},           {"ecalayer", "eca"},
      {"ecaattention", "eca"},  {"se", "se"},
      {"seattention", "se"},    {"selayer", "se"},
      {"spatialattention", "spatial-attention"},
      {"cafm", "cafm"},         {"gatedfusion", "gated-fusion"},
      {"msf", "msf"},           {"msfblock", "msf"},
      {"mfe", "mfe"},           {"mfeblock", "mfe"},
      {"safm", "safm"},         {"osra", "osra"},
      {"cbamjoint", "cbam-joint"}, {"cmgm", "cmgm"},
      {"grafting", "cmgm"}};
  const auto it = names.find(normalised(className));
  return it == names.end() ? "" : it->second;
}

CaptureCheck checkCapture(const ModuleRegistry& registry, const Capture& capture) {
  CaptureCheck check;
  check.moduleId = builtinForClass(capture.className);
  if (check.moduleId.empty()) {
    check.reason = "class " + capture.className + " is not one of the built-in modules";
    return check;
  }
  const ModuleDescriptor& d = registry.get(check.moduleId);
  if (capture.inputs.size() != d.inputs.size()) {
    check.reason = d.id + " takes " + std::to_string(d.inputs.size()) + " input(s); your module took " +
                   std::to_string(capture.inputs.size());
    return check;
  }
  std::set<std::string> given;  // by the constructor arguments; the rest start at defaults
  for (const ParamSpec& p : d.params) {
    const auto it = capture.initArgs.find(p.name);
    if (it != capture.initArgs.end()) given.insert(p.name);
    check.params[p.name] = it != capture.initArgs.end() ? it->second : p.defaultValue;
  }

  auto attempt = [&](const std::map<std::string, std::string>& params) {
    RunRequest req;
    req.moduleId = d.id;
    req.params = params;
    req.weights = std::make_shared<const NamedTensors>(capture.state);
    req.weightsPath = capture.path;
    req.weightsPrefix = std::string();
    req.inputs = capture.inputs;
    req.device = DeviceChoice::Cpu;
    return run(registry, req);
  };
  RunResult res = attempt(check.params);
  if (!res.ok && res.errorKind == ErrorKind::Weights) {
    // The constructor arguments did not say (e.g. AFF's r): search one integer parameter
    // for the value whose shapes take the captured weights.
    for (const ParamSpec& p : d.params) {
      if (p.type != ParamType::Int || given.count(p.name)) continue;
      bool found = false;
      for (int64_t v = std::max<int64_t>(1, static_cast<int64_t>(p.min));
           v <= std::min<int64_t>(static_cast<int64_t>(p.max), 256) && !found; ++v) {
        auto params = check.params;
        params[p.name] = std::to_string(v);
        RunResult r = attempt(params);
        if (r.ok) {
          res = std::move(r);
          check.params = params;
          found = true;
        }
      }
      if (found) break;
    }
  }
  if (!res.ok) {
    check.reason = "the built-in " + d.id + " cannot run your module's weights: " + res.error;
    return check;
  }
  check.ran = true;
  if (res.outputs.size() > capture.outputs.size()) {
    check.reason = d.id + " has " + std::to_string(res.outputs.size()) + " output(s); your module returned " +
                   std::to_string(capture.outputs.size());
    check.result = std::move(res);
    return check;
  }
  double scale = 1.0;
  for (size_t i = 0; i < res.outputs.size(); ++i) {
    const at::Tensor& mine = res.outputs[i];
    const at::Tensor& theirs = capture.outputs[i].second;
    if (mine.sizes() != theirs.sizes()) {
      check.reason = "output " + std::to_string(i) + " of " + d.id + " has shape " + shapeText(mine.sizes()) +
                     ", yours " + shapeText(theirs.sizes());
      check.result = std::move(res);
      return check;
    }
    scale = std::max(scale, theirs.abs().max().item<double>());
    const double diff = (mine.to(at::kDouble) - theirs.to(at::kDouble)).abs().max().item<double>();
    check.maxDiff = std::isnan(diff) ? INFINITY : std::max(check.maxDiff, diff);
  }
  check.matches = check.maxDiff <= kCaptureTolerance * scale;
  if (!check.matches) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "the built-in %s with your weights gives outputs up to %.3g away from yours",
                  d.id.c_str(), check.maxDiff);
    check.reason = buf;
  }
  check.result = std::move(res);
  return check;
}

RunResult scriptRunAsResult(const std::string& id, const std::vector<std::pair<std::string, at::Tensor>>& outputs,
                            const std::vector<std::pair<std::string, at::Tensor>>& probes,
                            const std::vector<ProbeKind>& kinds) {
  RunResult res;
  res.ok = true;
  res.moduleId = id;
  res.device = "cpu";
  for (const auto& [name, t] : outputs) {
    res.outputNames.push_back(name);
    res.outputs.push_back(t);
  }
  for (size_t i = 0; i < probes.size(); ++i) {
    ProbeResult p;
    p.name = probes[i].first;
    p.value = probes[i].second;
    p.kind = i < kinds.size() ? kinds[i] : ProbeKind::FeatureMap;
    p.lo = p.hi = std::numeric_limits<double>::quiet_NaN();
    res.probes.push_back(std::move(p));
  }
  return res;
}

std::string writeCaptureScript(const Capture& capture) {
  if (capture.script.empty()) {
    throwInput(capture.path + ": the capture holds no TorchScript trace" +
               (capture.traceError.empty() ? std::string() : " (tracing failed: " + capture.traceError + ")"));
  }
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() /
                   ("fusionlens-capture-" + std::to_string(rd()) + std::to_string(rd()));
  std::error_code ec;
  if (!std::filesystem::create_directory(dir, ec)) throwInput("cannot create a temporary directory for the trace");
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  const std::string file = (dir / "trace.pt").string();
  std::ofstream out(file, std::ios::binary);
  out.write(reinterpret_cast<const char*>(capture.script.data()), static_cast<std::streamsize>(capture.script.size()));
  if (!out) throwInput("cannot write the capture's trace to " + file);
  return file;
}

void removeCaptureScript(const std::string& path) {
  std::error_code ec;
  const auto dir = std::filesystem::path(path).parent_path();
  std::filesystem::remove(path, ec);
  std::filesystem::remove(dir, ec);
}

}  // namespace fl
