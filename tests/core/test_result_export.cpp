// Exporting a run's result (core/run/result_export.h): every output and probe as
// .safetensors and one tensor as .npy read back bit for bit; channel scores as CSV/JSON
// checked against the probes computed independently here; no silent overwrite; clear
// errors for modules without channel probes.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "test_registry.h"
#include "core/common/error.h"
#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "core/run/result_export.h"
#include "core/run/run.h"

namespace fl {
namespace {

using test::registry;
namespace fs = std::filesystem;

RunResult runModule(const std::string& id, int64_t b = 2, int64_t c = 16) {
  RunRequest req;
  req.moduleId = id;
  // cbam's default C // 16 = 1 hidden unit can be switched off by the ReLU for every batch
  // element alike; 8 units keep the batch elements' channel weights apart.
  if (id == "cbam") req.params["reduction"] = "2";
  at::manual_seed(11);  // the same inputs on every run of the tests
  req.device = DeviceChoice::Cpu;
  req.seed = 3;
  const ModuleDescriptor& d = registry().get(id);
  for (size_t i = 0; i < d.inputs.size(); ++i) req.inputs.push_back(at::randn({b, c, 5, 7}));
  RunResult res = run(registry(), req);
  EXPECT_TRUE(res.ok) << id << ": " << res.error;
  return res;
}

class ResultExport : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "fl_result_export_XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (fs::path(dir_) / name).string(); }
  static std::string slurp(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  /// No temporary file left next to the outputs.
  void expectNoTemporaries() const {
    for (const auto& e : fs::directory_iterator(dir_)) EXPECT_NE(e.path().extension(), ".tmp") << e.path();
  }
  std::string dir_;
};

/// The expected [C] scores of a probe, computed here independently of the exporter.
std::vector<float> expectedScores(const ProbeResult& p, int64_t b) {
  const at::Tensor v = p.value.contiguous();
  std::vector<float> out;
  if (p.kind == ProbeKind::ChannelWeights) {
    const int64_t c = v.size(1);
    for (int64_t i = 0; i < c; ++i) out.push_back(v.data_ptr<float>()[b * c + i]);
  } else {
    const int64_t c = v.size(1), hw = v.size(2) * v.size(3);
    const float* base = v.data_ptr<float>() + b * c * hw;
    for (int64_t i = 0; i < c; ++i) {
      double sum = 0;
      for (int64_t k = 0; k < hw; ++k) sum += base[i * hw + k];
      out.push_back(static_cast<float>(sum / static_cast<double>(hw)));
    }
  }
  return out;
}

/// Scores equal: exactly for channel weights (copied values), to float rounding for gate
/// means (the summation order differs).
void expectScore(float got, float want, ProbeKind kind, const std::string& where) {
  if (kind == ProbeKind::ChannelWeights) {
    EXPECT_EQ(got, want) << where;
  } else {
    EXPECT_NEAR(got, want, 2e-7 * std::max(1.0f, std::fabs(want))) << where;
  }
}

/// Ranks are 1..C, highest score first.
void expectRanks(const std::vector<float>& scores, const std::vector<int64_t>& ranks, const std::string& where) {
  ASSERT_EQ(scores.size(), ranks.size()) << where;
  std::vector<int> seen(ranks.size() + 1, 0);
  for (int64_t r : ranks) {
    ASSERT_GE(r, 1) << where;
    ASSERT_LE(r, static_cast<int64_t>(ranks.size())) << where;
    ++seen[static_cast<size_t>(r)];
  }
  for (size_t r = 1; r < seen.size(); ++r) EXPECT_EQ(seen[r], 1) << where << " rank " << r;
  for (size_t i = 0; i < scores.size(); ++i) {
    for (size_t j = 0; j < scores.size(); ++j) {
      if (scores[i] > scores[j]) {
        EXPECT_LT(ranks[i], ranks[j]) << where << " channels " << i << ", " << j;
      }
    }
  }
}

struct CsvRow {
  std::string probe;
  int64_t channel = 0;
  std::string score;
  int64_t rank = 0;
};

std::vector<CsvRow> parseCsv(const std::string& text, std::string* header) {
  std::istringstream in(text);
  std::string line;
  std::getline(in, *header);
  std::vector<CsvRow> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) f.push_back(cell);
    EXPECT_EQ(f.size(), 4u) << line;
    if (f.size() != 4) continue;
    rows.push_back({f[0], std::stoll(f[1]), f[2], std::stoll(f[3])});
  }
  return rows;
}

TEST_F(ResultExport, SafetensorsHoldsEveryOutputAndProbeUnderTheCliNames) {
  const RunResult res = runModule("cbam");
  ASSERT_TRUE(res.ok);
  const std::string file = path("cbam.safetensors");
  RunRequest req;  // requestMetadata() of a request like the one that ran
  req.seed = 3;
  req.params = {{"reduction", "4"}};
  writeResultSafetensors(res, file, false, requestMetadata(req));
  const NamedTensors back = readSafetensors(file);
  ASSERT_EQ(back.size(), 3u);
  EXPECT_EQ(back[0].first, "output");
  EXPECT_EQ(back[1].first, "probe.channel_weight");
  EXPECT_EQ(back[2].first, "probe.spatial_weight");
  EXPECT_TRUE(at::equal(back[0].second, res.outputs[0]));
  EXPECT_TRUE(at::equal(back[1].second, res.findProbe("channel_weight")->value));
  EXPECT_TRUE(at::equal(back[2].second, res.findProbe("spatial_weight")->value));
  EXPECT_EQ(back[2].second.sizes().vec(), (std::vector<int64_t>{2, 1, 5, 7}));

  // The metadata: what made the run.
  const std::string bytes = slurp(file);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  const auto& meta = header.at("__metadata__");
  EXPECT_EQ(meta.at("module"), "cbam");
  EXPECT_EQ(meta.at("device"), "cpu");
  EXPECT_EQ(meta.at("seed"), "3");
  EXPECT_EQ(meta.at("param.reduction"), "4");
  EXPECT_TRUE(meta.contains("fusionlens"));
  expectNoTemporaries();
}

TEST_F(ResultExport, NpyKeepsTheRawTensor) {
  const RunResult res = runModule("aff");
  ASSERT_TRUE(res.ok);
  const at::Tensor gate = res.findProbe("weight")->value;
  writeTensorNpy(gate, path("gate.npy"), false);
  const at::Tensor back = readNpy(path("gate.npy"));
  EXPECT_EQ(back.scalar_type(), at::kFloat);
  EXPECT_EQ(back.sizes().vec(), gate.sizes().vec());
  EXPECT_TRUE(at::equal(back, gate));
  // a non-contiguous double tensor keeps its dtype and logical layout
  const at::Tensor d = at::randn({3, 4}, at::kDouble).t();
  writeTensorNpy(d, path("d.npy"), false);
  EXPECT_TRUE(at::equal(readNpy(path("d.npy")), d));
  expectNoTemporaries();
}

TEST_F(ResultExport, CsvScoresMatchEveryChannelProbeOfTheBatchElement) {
  // cbam: a ChannelWeights probe (its spatial map is no channel score); iaff: two Gates.
  for (const std::string id : {"cbam", "iaff", "aff"}) {
    const RunResult res = runModule(id);
    ASSERT_TRUE(res.ok);
    const std::string file = path(id + ".csv");
    writeChannelScores(res, 1, file, false);
    std::string header;
    const auto rows = parseCsv(slurp(file), &header);
    EXPECT_EQ(header, "probe,channel,score,rank");
    size_t row = 0;
    size_t probes = 0;
    for (const auto& p : res.probes) {
      if (p.kind != ProbeKind::ChannelWeights && p.kind != ProbeKind::Gate) continue;
      ++probes;
      const std::vector<float> want = expectedScores(p, 1);
      ASSERT_EQ(want.size(), 16u);
      std::vector<float> got;
      std::vector<int64_t> ranks;
      for (size_t c = 0; c < want.size(); ++c, ++row) {
        ASSERT_LT(row, rows.size()) << id;
        EXPECT_EQ(rows[row].probe, p.name);
        EXPECT_EQ(rows[row].channel, static_cast<int64_t>(c));
        got.push_back(std::strtof(rows[row].score.c_str(), nullptr));
        ranks.push_back(rows[row].rank);
        expectScore(got.back(), want[c], p.kind, id + " " + p.name + " channel " + std::to_string(c));
      }
      expectRanks(got, ranks, id + " " + p.name);
      // batch element 1, not 0: the scores differ
      EXPECT_NE(expectedScores(p, 0), want) << id;
    }
    EXPECT_EQ(rows.size(), row) << id << ": rows for probes that are no channel probes";
    EXPECT_EQ(probes, id == "iaff" ? 2u : 1u) << id;
  }
}

TEST_F(ResultExport, JsonHoldsTheCsvNumbers) {
  const RunResult res = runModule("iaff");
  ASSERT_TRUE(res.ok);
  writeChannelScores(res, 0, path("s.json"), false);
  writeChannelScores(res, 0, path("s.csv"), false);
  const auto j = nlohmann::json::parse(slurp(path("s.json")));
  EXPECT_EQ(j.at("schema_version"), 1);
  EXPECT_EQ(j.at("module"), "iaff");
  EXPECT_EQ(j.at("batch"), 0);
  ASSERT_EQ(j.at("probes").size(), 2u);
  std::string header;
  const auto rows = parseCsv(slurp(path("s.csv")), &header);
  size_t row = 0;
  for (const std::string name : {"weight", "weight2"}) {
    const auto& p = j.at("probes").at(name);
    EXPECT_EQ(p.at("kind"), "gate");
    EXPECT_EQ(p.at("reduction"), "spatial mean");
    const std::vector<float> want = expectedScores(*res.findProbe(name), 0);
    ASSERT_EQ(p.at("scores").size(), want.size());
    std::vector<float> got;
    for (size_t c = 0; c < want.size(); ++c, ++row) {
      got.push_back(static_cast<float>(p.at("scores")[c].get<double>()));
      expectScore(got.back(), want[c], ProbeKind::Gate, name + " channel " + std::to_string(c));
      // the same float32 as the CSV row, and the same rank
      EXPECT_EQ(got.back(), std::strtof(rows.at(row).score.c_str(), nullptr));
      EXPECT_EQ(p.at("ranks")[c].get<int64_t>(), rows.at(row).rank);
    }
    expectRanks(got, p.at("ranks").get<std::vector<int64_t>>(), name);
  }
}

TEST_F(ResultExport, TiesKeepChannelOrderAndNanRanksLast) {
  RunResult res;
  res.ok = true;
  res.moduleId = "handmade";
  const float nan = std::nanf("");
  res.probes.push_back({"w", ProbeKind::ChannelWeights, at::tensor({0.25f, nan, 0.75f, 0.25f, 0.1f}).reshape({1, 5}), 0, 1});
  const auto table = channelScoreTable(res, 0);
  ASSERT_EQ(table.size(), 1u);
  EXPECT_EQ(table[0].ranks, (std::vector<int64_t>{2, 5, 1, 3, 4}));
  EXPECT_EQ(channelScoresCsv(res, 0),
            "probe,channel,score,rank\nw,0,0.25,2\nw,1,nan,5\nw,2,0.75,1\nw,3,0.25,3\nw,4,0.100000001,4\n");
  const auto j = nlohmann::json::parse(channelScoresJson(res, 0));
  EXPECT_TRUE(j["probes"]["w"]["scores"][1].is_null());
  EXPECT_EQ(j["probes"]["w"]["scores"][4].get<double>(), 0.100000001);
}

TEST_F(ResultExport, NeverOverwritesUnlessAsked) {
  const RunResult res = runModule("cbam");
  ASSERT_TRUE(res.ok);
  const std::vector<std::string> names{"a.safetensors", "a.npy", "a.csv", "a.json", "a.txt"};
  for (const auto& name : names) {
    const std::string file = path(name);
    { std::ofstream(file) << "precious"; }
    try {
      if (name == "a.safetensors") writeResultSafetensors(res, file, false);
      if (name == "a.npy") writeTensorNpy(res.outputs[0], file, false);
      if (name == "a.csv" || name == "a.json") writeChannelScores(res, 0, file, false);
      if (name == "a.txt") writeTextFile(file, "new", false);
      ADD_FAILURE() << name << " was overwritten without being asked";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::Usage);
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("exists"), std::string::npos) << e.what();
    }
    EXPECT_EQ(slurp(file), "precious") << name;
  }
  // asked: replaced
  writeResultSafetensors(res, path("a.safetensors"), true);
  EXPECT_TRUE(at::equal(readSafetensors(path("a.safetensors"))[0].second, res.outputs[0]));
  writeTensorNpy(res.outputs[0], path("a.npy"), true);
  EXPECT_TRUE(at::equal(readNpy(path("a.npy")), res.outputs[0]));
  writeChannelScores(res, 0, path("a.csv"), true);
  EXPECT_EQ(slurp(path("a.csv")), channelScoresCsv(res, 0));
  writeTextFile(path("a.txt"), "new", true);
  EXPECT_EQ(slurp(path("a.txt")), "new");
  expectNoTemporaries();
}

TEST_F(ResultExport, ModuleWithoutChannelProbesIsAClearError) {
  const RunResult res = runModule("spatial-attention");
  ASSERT_TRUE(res.ok);
  try {
    writeChannelScores(res, 0, path("s.csv"), false);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    const std::string m = e.what();
    EXPECT_NE(m.find("'spatial-attention' has no channel scores"), std::string::npos) << m;
    EXPECT_NE(m.find("spatial_weight (spatial_map)"), std::string::npos) << m;
  }
  EXPECT_FALSE(fs::exists(path("s.csv")));
}

TEST_F(ResultExport, BadBatchAndExtensionAreUsageErrors) {
  const RunResult res = runModule("eca", 2);
  ASSERT_TRUE(res.ok);
  try {
    channelScoresCsv(res, 2);
    ADD_FAILURE() << "batch 2 of 2 accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("batch element 2 is out of range"), std::string::npos) << e.what();
  }
  EXPECT_THROW(channelScoresJson(res, -1), Error);
  EXPECT_EQ(scoresFormatFor("x/SCORES.CSV"), ScoresFormat::Csv);
  EXPECT_EQ(scoresFormatFor("s.json"), ScoresFormat::Json);
  try {
    writeChannelScores(res, 0, path("s.txt"), false);
    ADD_FAILURE() << ".txt accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("s.txt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(".csv or .json"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(path("s.txt")));
  // a failed result has nothing to write
  RunResult failed;
  failed.moduleId = "eca";
  failed.error = "boom";
  EXPECT_THROW(writeResultSafetensors(failed, path("f.safetensors"), false), Error);
  EXPECT_FALSE(fs::exists(path("f.safetensors")));
}

}  // namespace
}  // namespace fl
