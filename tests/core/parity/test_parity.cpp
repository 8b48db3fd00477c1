// Every registered module against the independent Python reference (tests/reference/):
// random weights and BatchNorm statistics saved with torch.save(model.state_dict()),
// B=1 and B=2, odd H and W, every output and every probe at 1e-5.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "tensor_checks.h"
#include "test_registry.h"
#include "core/io/npy.h"
#include "test_env.h"
#include "core/modules/registry.h"
#include "core/run/run.h"

namespace fl {
namespace {

std::string casesDir() {
  return test::env("FL_REFERENCE_CASES");
}

const nlohmann::json& manifest() {
  static const nlohmann::json m = [] {
    std::ifstream in(casesDir() + "/manifest.json");
    if (!in) return nlohmann::json::object();
    return nlohmann::json::parse(in);
  }();
  return m;
}

using test::expectClose;
using test::registry;

std::vector<nlohmann::json> casesOf(const std::string& id) {
  std::vector<nlohmann::json> out;
  if (!manifest().contains("cases")) return out;
  for (const auto& c : manifest()["cases"]) {
    if (c["module"] == id) out.push_back(c);
  }
  return out;
}

/// The run of one reference case: its parameters, its weights file and its inputs, on the CPU.
RunRequest requestOf(const std::string& id, const nlohmann::json& c) {
  RunRequest req;
  req.moduleId = id;
  for (const auto& [k, v] : c["params"].items()) req.params[k] = v.get<std::string>();
  req.weightsPath = casesDir() + "/" + c["weights"].get<std::string>();
  req.device = DeviceChoice::Cpu;
  for (const auto& p : c["inputs"]) req.inputs.push_back(readNpy(casesDir() + "/" + p.get<std::string>()));
  return req;
}

class Parity : public ::testing::TestWithParam<std::string> {};

TEST_P(Parity, MatchesReferenceOutputsAndProbes) {
  const std::string id = GetParam();
  ASSERT_FALSE(casesDir().empty()) << "FL_REFERENCE_CASES is not set";
  ASSERT_TRUE(manifest().contains("cases")) << "no manifest in " << casesDir();
  const auto cases = casesOf(id);
  ASSERT_GE(cases.size(), 2u) << id << ": the reference has fewer than two cases";

  const ModuleDescriptor& desc = registry().get(id);
  bool sawB1 = false, sawB2 = false, sawOdd = false;
  for (const auto& c : cases) {
    SCOPED_TRACE("case " + c["name"].get<std::string>());
    RunRequest req = requestOf(id, c);
    const auto& shape = req.inputs.at(0).sizes();
    sawB1 |= shape[0] == 1;
    sawB2 |= shape[0] == 2;
    sawOdd |= (shape[2] % 2 == 1) || (shape[3] % 2 == 1);

    const RunResult res = run(registry(), req);
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_TRUE(res.weights.ok());
    EXPECT_FALSE(res.weights.matched.empty()) << "no weights were loaded";

    const auto& outs = c["outputs"];
    ASSERT_EQ(res.outputs.size(), outs.size());
    ASSERT_EQ(res.outputs.size(), desc.outputs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      expectClose(res.outputs[i], readNpy(casesDir() + "/" + outs[i].get<std::string>()),
                  desc.outputs[i]);
    }
    std::set<std::string> refProbes;
    for (const auto& [name, path] : c["probes"].items()) {
      refProbes.insert(name);
      const ProbeResult* p = res.findProbe(name);
      ASSERT_NE(p, nullptr) << "probe '" << name << "' was not recorded";
      expectClose(p->value, readNpy(casesDir() + "/" + path.get<std::string>()), "probe." + name);
    }
    // Every declared probe is checked against the reference.
    for (const auto& spec : desc.probes) {
      EXPECT_TRUE(refProbes.count(spec.name)) << "probe '" << spec.name << "' has no reference";
    }
  }
  EXPECT_TRUE(sawB1) << "no B=1 case";
  EXPECT_TRUE(sawB2) << "no B=2 case";
  EXPECT_TRUE(sawOdd) << "no case with odd H or W";
}

// With only the outputs asked for, no probe is recorded and the modules take their lean paths
// (ms-cam and aff fold G(x) into a matrix product's bias, osra and cmgm skip the full attention):
// those outputs must match the reference as well.
TEST_P(Parity, OutputsOnlyMatchReference) {
  const std::string id = GetParam();
  ASSERT_TRUE(manifest().contains("cases")) << "no manifest in " << casesDir();
  const ModuleDescriptor& desc = registry().get(id);
  for (const auto& c : casesOf(id)) {
    SCOPED_TRACE("case " + c["name"].get<std::string>());
    RunRequest req = requestOf(id, c);
    req.outputs = desc.outputs;
    const RunResult res = run(registry(), req);
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_TRUE(res.probes.empty()) << "probes were recorded though only outputs were asked for";
    const auto& outs = c["outputs"];
    ASSERT_EQ(res.outputs.size(), outs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      expectClose(res.outputs[i], readNpy(casesDir() + "/" + outs[i].get<std::string>()),
                  desc.outputs[i]);
    }
  }
}

std::vector<std::string> moduleIds() {
  std::vector<std::string> ids;
  for (const auto& d : registry().all()) ids.push_back(d.id);
  return ids;
}

INSTANTIATE_TEST_SUITE_P(Modules, Parity, ::testing::ValuesIn(moduleIds()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string name = info.param;
                           for (auto& ch : name) {
                             if (ch == '-') ch = '_';
                           }
                           return name;
                         });

TEST(ParityManifest, EveryReferenceCaseIsARegisteredModule) {
  ASSERT_TRUE(manifest().contains("cases")) << "no manifest in " << casesDir();
  for (const auto& c : manifest()["cases"]) {
    EXPECT_NE(registry().find(c["module"].get<std::string>()), nullptr)
        << "reference case " << c["name"] << " names module " << c["module"]
        << " which is not registered";
  }
}

}  // namespace
}  // namespace fl
