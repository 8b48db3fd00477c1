#include "core/run/result_export.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/common/versions.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"

namespace fl {
namespace {

/// Refuses to replace an existing file unless asked to (never overwrite silently).
void checkWritable(const std::string& path, bool overwrite) {
  if (path.empty()) throwUsage("no output file name given");
  requireReplaceableTarget(path);  // a device or FIFO is refused even with overwrite
  std::error_code ec;
  if (!overwrite && std::filesystem::exists(path, ec)) {
    throwUsage("'" + path + "' exists; choose another name or allow overwriting");
  }
}

/// A float as %.9g: the fewest digits that always read back as the same float32.
std::string formatScore(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(v));
  return buf;
}

/// 1-based ranks, highest score first; equal scores keep channel order, NaN goes last
/// (a plain `>` is no strict weak order with NaN).
std::vector<int64_t> ranksOf(const at::Tensor& scores) {
  const at::Tensor s = scores.contiguous();
  const float* v = s.data_ptr<float>();
  std::vector<int64_t> order(static_cast<size_t>(s.numel()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [v](int64_t a, int64_t b) {
    if (std::isnan(v[a])) return false;
    if (std::isnan(v[b])) return true;
    return v[a] > v[b];
  });
  std::vector<int64_t> ranks(order.size());
  for (size_t i = 0; i < order.size(); ++i) ranks[static_cast<size_t>(order[i])] = static_cast<int64_t>(i) + 1;
  return ranks;
}

bool isChannelProbe(const ProbeResult& p) {
  if (!p.value.defined() || p.value.dim() < 1) return false;
  if (p.kind == ProbeKind::ChannelWeights) return true;
  return p.kind == ProbeKind::Gate && p.value.dim() == 4;
}

}  // namespace

NamedTensors resultTensors(const RunResult& result) {
  NamedTensors out;
  for (size_t i = 0; i < result.outputs.size(); ++i) {
    const std::string name = i < result.outputNames.size() ? result.outputNames[i]
                                                            : "output." + std::to_string(i);
    out.emplace_back(name, result.outputs[i]);
  }
  for (const auto& p : result.probes) out.emplace_back("probe." + p.name, p.value);
  return out;
}

std::map<std::string, std::string> requestMetadata(const RunRequest& request) {
  std::map<std::string, std::string> meta{{"seed", std::to_string(request.seed)},
                                          {"weights", request.weightsPath}};
  for (const auto& [k, v] : request.params) meta["param." + k] = v;
  return meta;
}

void writeResultSafetensors(const RunResult& result, const std::string& path, bool overwrite,
                            const std::map<std::string, std::string>& metadata) {
  if (!result.ok) throwUsage("'" + path + "': the run failed, there is nothing to write (" + result.error + ")");
  checkWritable(path, overwrite);
  std::map<std::string, std::string> meta{
      {"module", result.moduleId}, {"fusionlens", fusionLensVersion()}, {"device", result.device}};
  for (const auto& [k, v] : metadata) meta[k] = v;
  writeSafetensors(path, resultTensors(result), meta);
}

void writeTensorNpy(const at::Tensor& tensor, const std::string& path, bool overwrite) {
  checkWritable(path, overwrite);
  writeNpy(path, tensor);
}

void writeTextFile(const std::string& path, const std::string& text, bool overwrite) {
  checkWritable(path, overwrite);
  writeFileAtomically(path, [&](std::ostream& out) {
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  });
}

std::vector<ProbeChannelScores> channelScoreTable(const RunResult& result, int64_t batch) {
  if (!result.ok) throwUsage("the run of " + result.moduleId + " failed; it has no channel scores");
  std::vector<ProbeChannelScores> table;
  std::string others;
  for (const auto& p : result.probes) {
    if (!isChannelProbe(p)) {
      others += (others.empty() ? "" : ", ") + p.name + " (" + probeKindName(p.kind) + ")";
      continue;
    }
    if (batch < 0 || batch >= p.value.size(0)) {
      throwUsage("batch element " + std::to_string(batch) + " is out of range: probe '" + p.name +
                 "' of " + result.moduleId + " has " + std::to_string(p.value.size(0)));
    }
    ProbeChannelScores s;
    s.probe = p.name;
    s.kind = p.kind;
    if (p.kind == ProbeKind::ChannelWeights) {
      s.reduction = "value";
      s.scores = p.value[batch].reshape({-1}).to(at::kFloat).contiguous();
    } else {
      s.reduction = "spatial mean";
      // float64 accumulation: a float32 sum over a large map loses digits the %.9g keeps
      s.scores = p.value[batch].to(at::kDouble).mean({1, 2}).to(at::kFloat).contiguous();
    }
    s.ranks = ranksOf(s.scores);
    table.push_back(std::move(s));
  }
  if (table.empty()) {
    throwUsage("module '" + result.moduleId + "' has no channel scores: its probes are " +
               (others.empty() ? std::string("(none)") : others) +
               "; channel scores come from channel_weights and gate probes");
  }
  return table;
}

std::string channelScoresCsv(const RunResult& result, int64_t batch) {
  std::string csv = "probe,channel,score,rank\n";
  for (const auto& s : channelScoreTable(result, batch)) {
    const float* v = s.scores.data_ptr<float>();
    for (int64_t c = 0; c < s.scores.numel(); ++c) {
      csv += s.probe + "," + std::to_string(c) + "," + formatScore(v[c]) + "," +
             std::to_string(s.ranks[static_cast<size_t>(c)]) + "\n";
    }
  }
  return csv;
}

std::string channelScoresJson(const RunResult& result, int64_t batch) {
  using Json = nlohmann::ordered_json;
  Json probes = Json::object();
  for (const auto& s : channelScoreTable(result, batch)) {
    Json scores = Json::array();
    const float* v = s.scores.data_ptr<float>();
    for (int64_t c = 0; c < s.scores.numel(); ++c) {
      // The number parsed from the %.9g text: JSON then shows the CSV's digits, not the
      // 17 of the float widened to double (both read back as the same float32).
      if (std::isfinite(v[c])) {
        scores.push_back(std::strtod(formatScore(v[c]).c_str(), nullptr));
      } else {
        scores.push_back(nullptr);
      }
    }
    probes[s.probe] = Json{{"kind", probeKindName(s.kind)},
                           {"reduction", s.reduction},
                           {"scores", std::move(scores)},
                           {"ranks", s.ranks}};
  }
  Json j{{"schema_version", 1}, {"module", result.moduleId}, {"batch", batch}, {"probes", std::move(probes)}};
  return j.dump(2) + "\n";
}

ScoresFormat scoresFormatFor(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == ".csv") return ScoresFormat::Csv;
  if (ext == ".json") return ScoresFormat::Json;
  throwUsage("'" + path + "': channel scores are written as .csv or .json");
}

std::string channelScoresText(const RunResult& result, int64_t batch, ScoresFormat format) {
  return format == ScoresFormat::Csv ? channelScoresCsv(result, batch) : channelScoresJson(result, batch);
}

void writeChannelScores(const RunResult& result, int64_t batch, const std::string& path, bool overwrite) {
  const ScoresFormat format = scoresFormatFor(path);
  checkWritable(path, overwrite);  // before computing: the cheaper refusal first
  writeTextFile(path, channelScoresText(result, batch, format), overwrite);
}

}  // namespace fl
