// TorchScript attention points and captures, against fixtures written by
// tests/script/make_script_fixtures.py into the build tree (ctest fixture script_fixtures).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/common/error.h"
#include "core/io/safetensors.h"
#include "core/modules/registry.h"
#include "core/run/run.h"
#include "core/script/capture.h"
#include "core/script/script_model.h"
#include "core/io/torchscript_safety.h"
#include "test_env.h"

namespace fl {
namespace {

using Json = nlohmann::json;
using script::ScriptModel;
using script::ScriptPoint;

std::string fixtures() { return test::env("FL_BINARY_DIR") + "/script_fixtures"; }
std::string fixture(const std::string& name) { return fixtures() + "/" + name; }

const Json& manifest() {
  static const Json m = [] {
    std::ifstream in(fixture("manifest.json"));
    Json j = Json::parse(in, nullptr, false);
    return j;
  }();
  return m;
}

const ModuleRegistry& registry() {
  static const ModuleRegistry r = [] {
    ModuleRegistry reg;
    registerBuiltinModules(reg);
    return reg;
  }();
  return r;
}

std::vector<at::Tensor> inputsOf(const std::string& file) {
  std::vector<at::Tensor> xs;
  for (const auto& [name, t] : readSafetensors(file)) xs.push_back(t);
  return xs;
}

at::Tensor tensorOf(const NamedTensors& ts, const std::string& name) {
  for (const auto& [n, t] : ts) {
    if (n == name) return t;
  }
  ADD_FAILURE() << "no tensor " << name;
  return at::Tensor();
}

const ScriptPoint* findPoint(const script::ScriptRunResult& r, const std::string& name) {
  for (const auto& p : r.points) {
    if (p.spec.name == name) return &p;
  }
  return nullptr;
}

std::string pointNames(const script::ScriptRunResult& r) {
  std::string s;
  for (const auto& p : r.points) s += " " + p.spec.name;
  return s;
}

double maxDiff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

template <class F>
std::string errorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input) << e.what();
    return e.what();
  }
  return "(no error)";
}

class ScriptFixtures : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(manifest().is_discarded()) << "no " << fixture("manifest.json")
                                            << ": run the script_make_fixtures test first";
  }
};

// ---------------------------------------------------------------- built-in modules

/// Traced and scripted versions of every built-in kind reproduce the built-in's outputs
/// and probes with the same weights (1e-5).
void checkBuiltin(const Json& c, const std::string& file) {
  const std::string id = c["id"];
  SCOPED_TRACE(id + " " + file);
  const std::string dir = fixture("builtin/");
  const std::vector<at::Tensor> xs = inputsOf(dir + id + ".inputs.safetensors");

  RunRequest req;
  req.moduleId = id;
  for (auto it = c["params"].begin(); it != c["params"].end(); ++it) req.params[it.key()] = it.value().get<std::string>();
  req.weights = std::make_shared<const NamedTensors>(readSafetensors(dir + id + ".state.safetensors"));
  req.weightsPrefix = std::string();
  req.inputs = xs;
  req.device = DeviceChoice::Cpu;
  const RunResult builtin = run(registry(), req);
  ASSERT_TRUE(builtin.ok) << builtin.error;

  const auto model = ScriptModel::load(dir + file);
  ASSERT_EQ(model->inputNames().size(), xs.size());
  const script::ScriptRunResult r = model->run(xs, false);
  EXPECT_TRUE(r.notCaptured.empty());
  // Outputs: the traced file returns the outputs, the scripted one (outputs, probes).
  ASSERT_GE(r.outputs.size(), builtin.outputs.size());
  for (size_t i = 0; i < builtin.outputs.size(); ++i) {
    EXPECT_LT(maxDiff(r.outputs[i].second, builtin.outputs[i]), 1e-5) << r.outputs[i].first;
  }
  for (auto it = c["probes"].begin(); it != c["probes"].end(); ++it) {
    const std::string probe = it.key();
    const std::string point = it.value()[0];
    const std::string kind = it.value()[1];
    const ScriptPoint* p = findPoint(r, point);
    ASSERT_NE(p, nullptr) << "no point " << point << "; points:" << pointNames(r);
    const ProbeResult* b = builtin.findProbe(probe);
    ASSERT_NE(b, nullptr) << probe;
    at::Tensor v = p->value;
    if (!it.value()[2].is_null()) v = v.permute(it.value()[2].get<std::vector<int64_t>>());
    ASSERT_EQ(v.numel(), b->value.numel()) << point;
    EXPECT_LT(maxDiff(v.reshape(b->value.sizes()), b->value), 1e-5) << probe << " vs " << point;
    EXPECT_EQ(script::pointKindName(p->kind), kind) << point << " " << shapeText(p->value.sizes());
  }
}

TEST_F(ScriptFixtures, TracedBuiltinsReproduceBuiltinProbes) {
  ASSERT_EQ(manifest()["builtin"].size(), 14u);
  for (const Json& c : manifest()["builtin"]) checkBuiltin(c, c["files"]["traced"].get<std::string>());
}

TEST_F(ScriptFixtures, ScriptedBuiltinsReproduceBuiltinProbes) {
  int scripted = 0;
  for (const Json& c : manifest()["builtin"]) {
    if (!c["files"].contains("scripted")) continue;
    checkBuiltin(c, c["files"]["scripted"].get<std::string>());
    ++scripted;
  }
  // torch.jit.script takes these reference classes (their settings branches fold away).
  EXPECT_GE(scripted, 10);
}

// ------------------------------------------------------------ user-modified modules

TEST_F(ScriptFixtures, ModifiedModulesGiveTheirOwnProbes) {
  for (const Json& c : manifest()["modified"]) {
    const std::string name = c["name"];
    const NamedTensors expected = readSafetensors(fixture("modified/" + name + ".expected.safetensors"));
    const std::vector<at::Tensor> xs = inputsOf(fixture("modified/" + name + ".inputs.safetensors"));
    for (const std::string variant : {".traced.pt", ".scripted.pt"}) {
      SCOPED_TRACE(name + variant);
      const auto r = ScriptModel::load(fixture("modified/" + name + variant))->run(xs, false);
      EXPECT_LT(maxDiff(r.outputs.at(0).second, tensorOf(expected, "output")), 1e-5);
      ASSERT_EQ(r.points.size(), c["kinds"].size()) << pointNames(r);
      for (auto it = c["kinds"].begin(); it != c["kinds"].end(); ++it) {
        const ScriptPoint* p = findPoint(r, it.key());
        ASSERT_NE(p, nullptr) << it.key() << "; points:" << pointNames(r);
        EXPECT_LT(maxDiff(p->value, tensorOf(expected, it.key())), 1e-5) << it.key();
        EXPECT_EQ(script::pointKindName(p->kind), it.value().get<std::string>()) << it.key();
      }
    }
  }
}

// ---------------------------------------------------------------------- a network

TEST_F(ScriptFixtures, NetworkGivesFourPointsWithKindsAndStrides) {
  const NamedTensors expected = readSafetensors(fixture("net.expected.safetensors"));
  const auto model = ScriptModel::load(fixture("net.pt"));
  const auto r = model->run(inputsOf(fixture("net.inputs.safetensors")), false);
  EXPECT_LT(maxDiff(r.outputs.at(0).second, tensorOf(expected, "output")), 1e-5);
  EXPECT_EQ(r.points.size(), 4u) << pointNames(r);
  int attention = 0;
  for (auto it = manifest()["net"].begin(); it != manifest()["net"].end(); ++it) {
    if (it.key().find("sigmoid") == std::string::npos) continue;
    ++attention;
    const ScriptPoint* p = findPoint(r, it.key());
    ASSERT_NE(p, nullptr) << it.key() << "; points:" << pointNames(r);
    EXPECT_LT(maxDiff(p->value, tensorOf(expected, it.key())), 1e-5) << it.key();
    EXPECT_EQ(script::pointKindName(p->kind), it.value()["kind"].get<std::string>()) << it.key();
    const double stride = it.value()["stride"];
    EXPECT_DOUBLE_EQ(p->strideH, stride) << it.key();
    EXPECT_DOUBLE_EQ(p->strideW, stride) << it.key();
  }
  EXPECT_EQ(attention, 4);
}

// A network's memory cannot be planned ahead: the forward's allocations are capped instead,
// and the first one past the budget stops the run with a memory error naming its size.
TEST_F(ScriptFixtures, NetworkOverTheBudgetIsStoppedWhenItAllocates) {
  const auto model = ScriptModel::load(fixture("net.pt"));
  const std::vector<at::Tensor> xs{at::randn({1, 3, 64, 64})};
  try {
    model->run(xs, false, 64 * 1024);
    FAIL() << "a 64 KiB budget let the network run";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Memory) << e.what();
    EXPECT_NE(std::string(e.what()).find("needs more memory than the budget: an allocation of"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("budget of 64.0 KiB"), std::string::npos) << e.what();
    ASSERT_TRUE(e.fix().has_value());
    EXPECT_EQ(e.fix()->action, FixAction::RaiseMemoryBudget);
  }
  // The same model runs afterwards under a budget it fits in.
  const auto r = model->run(xs, false, int64_t{1} << 30);
  EXPECT_EQ(r.points.size(), 4u);
}

TEST_F(ScriptFixtures, SubmoduleOutputsOnRequest) {
  const NamedTensors expected = readSafetensors(fixture("net.expected.safetensors"));
  const auto model = ScriptModel::load(fixture("net.pt"));
  const auto r = model->run(inputsOf(fixture("net.inputs.safetensors")), true);
  for (auto it = manifest()["net"].begin(); it != manifest()["net"].end(); ++it) {
    const ScriptPoint* p = findPoint(r, it.key());
    ASSERT_NE(p, nullptr) << it.key() << "; points:" << pointNames(r);
    EXPECT_LT(maxDiff(p->value, tensorOf(expected, it.key())), 1e-5) << it.key();
    EXPECT_EQ(script::pointKindName(p->kind), it.value()["kind"].get<std::string>()) << it.key();
    EXPECT_DOUBLE_EQ(p->strideH, it.value()["stride"].get<double>()) << it.key();
  }
  // Without the request, only the attention points.
  EXPECT_EQ(model->points(false).size(), 4u);
  EXPECT_GT(model->points(true).size(), 4u);
}

// ------------------------------------------------------------------- control flow

TEST_F(ScriptFixtures, PointsInsideControlFlowAreReportedNotDropped) {
  const auto model = ScriptModel::load(fixture("control_flow.pt"));
  const auto specs = model->points(false);
  ASSERT_EQ(specs.size(), 3u);
  EXPECT_EQ(specs[0].name, "sigmoid");
  EXPECT_TRUE(specs[0].capturable);
  EXPECT_EQ(specs[1].name, "softmax");
  EXPECT_FALSE(specs[1].capturable);
  EXPECT_NE(specs[1].reason.find("prim::If"), std::string::npos) << specs[1].reason;
  EXPECT_EQ(specs[2].name, "sigmoid_1");
  EXPECT_FALSE(specs[2].capturable);
  const auto r = model->run({at::randn({1, 4, 5, 5})}, false);
  ASSERT_EQ(r.points.size(), 1u);
  EXPECT_EQ(r.points[0].spec.name, "sigmoid");
  ASSERT_EQ(r.notCaptured.size(), 2u);
  EXPECT_EQ(r.notCaptured[0].name, "softmax");
}

// ------------------------------------------------------------------------- safety

TEST_F(ScriptFixtures, UnsafeOperatorsAreRefusedByName) {
  for (auto it = manifest()["unsafe"].begin(); it != manifest()["unsafe"].end(); ++it) {
    const std::string file = fixture(it.key());
    const std::string op = it.value()[0];
    const std::string path = it.value()[1];
    const std::string msg = errorOf([&] { ScriptModel::load(file); });
    EXPECT_NE(msg.find(op), std::string::npos) << msg;
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    if (!path.empty()) {
      EXPECT_NE(msg.find("in " + path + " "), std::string::npos) << msg;
    }
    // The feature backbones load through the same checker.
    EXPECT_NE(errorOf([&] { script::loadCheckedModule(file); }).find(op), std::string::npos);
  }
}

TEST(ScriptSafety, AllowList) {
  EXPECT_TRUE(script::operatorAllowed("aten::sigmoid"));
  EXPECT_TRUE(script::operatorAllowed("aten::sigmoid_"));
  EXPECT_TRUE(script::operatorAllowed("aten::_convolution"));
  EXPECT_TRUE(script::operatorAllowed("prim::GetAttr"));
  EXPECT_FALSE(script::operatorAllowed("prim::Print"));
  EXPECT_FALSE(script::operatorAllowed("prim::SetAttr"));
  EXPECT_FALSE(script::operatorAllowed("prim::CallMethod"));
  EXPECT_FALSE(script::operatorAllowed("prim::PythonOp"));
  EXPECT_FALSE(script::operatorAllowed("aten::warn"));
  EXPECT_FALSE(script::operatorAllowed("aten::save"));
  EXPECT_FALSE(script::operatorAllowed("aten::from_file"));
  EXPECT_FALSE(script::operatorAllowed("aten::set_"));
  EXPECT_FALSE(script::operatorAllowed("aten::__and___"));
  EXPECT_FALSE(script::operatorAllowed("myops::custom"));
  EXPECT_FALSE(script::operatorAllowed("sigmoid"));
}

TEST_F(ScriptFixtures, DamagedFilesAreRefusedWithAMessage) {
  for (const Json& f : manifest()["bad"]) {
    const std::string file = fixture(f.get<std::string>());
    const std::string msg = errorOf([&] { ScriptModel::load(file); });
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
  EXPECT_NE(errorOf([&] { ScriptModel::load(fixture("bad_checkpoint.pt")); }).find("not a TorchScript module"),
            std::string::npos);
  // The damaged code entry is caught by FusionLens's own zip reader, before LibTorch.
  const std::string flipped = errorOf([&] { ScriptModel::load(fixture("bad_flipped.pt")); });
  EXPECT_NE(flipped.find("code/"), std::string::npos) << flipped;
}

// ---------------------------------------------------------------- classification

TEST(ScriptKinds, ShapesPickProbeKinds) {
  const std::vector<std::pair<int64_t, int64_t>> grids{{8, 8}, {4, 4}, {2, 2}};
  const std::vector<int64_t> channels{32, 3};
  auto kind = [&](std::vector<int64_t> s, bool attention = true) {
    return script::pointKindName(script::classifyPoint(s, attention, "aten::sigmoid", grids, channels).kind);
  };
  EXPECT_EQ(kind({2, 32}), "channel_weights");
  EXPECT_EQ(kind({2, 32, 1, 1}), "channel_weights");
  EXPECT_EQ(kind({2, 1, 32}), "channel_weights");
  EXPECT_EQ(kind({2, 1, 8, 8}), "spatial_map");
  EXPECT_EQ(kind({2, 32, 8, 8}), "gate");
  EXPECT_EQ(kind({2, 32, 8, 8}, false), "feature_map");
  EXPECT_EQ(kind({2, 8, 64, 16}), "attention_matrix");
  EXPECT_EQ(kind({2, 32, 4, 1}), "scale_weights");
  EXPECT_EQ(kind({2, 32, 4}), "scale_weights");
  EXPECT_EQ(kind({2, 32, 32}), "channel_matrix");
  EXPECT_EQ(kind({2, 32}, false), "unclassified");
  EXPECT_EQ(kind({5}), "unclassified");
  // flattened spatial maps (N = 8*8, not a channel count) and channels-last gates
  const auto flat = script::classifyPoint(std::vector<int64_t>{2, 1, 64}, true, "aten::softmax", grids, channels);
  EXPECT_EQ(script::pointKindName(flat.kind), "spatial_map");
  EXPECT_EQ(flat.view, (std::vector<int64_t>{2, 1, 8, 8}));
  EXPECT_EQ(kind({2, 64, 1, 1}), "spatial_map");
  const auto last = script::classifyPoint(std::vector<int64_t>{2, 8, 8, 32}, true, "aten::sigmoid", grids, channels);
  EXPECT_EQ(script::pointKindName(last.kind), "gate");
  EXPECT_EQ(last.permute, (std::vector<int64_t>{0, 3, 1, 2}));
}

// ------------------------------------------------------------------------ captures

TEST_F(ScriptFixtures, CaptureOfAStandardAffMatches) {
  const Capture cap = readCapture(fixture("aff_match.flcap"));
  EXPECT_EQ(cap.className, "AFF");
  EXPECT_EQ(cap.modulePath, "fuse");
  EXPECT_EQ(cap.inputs.size(), 2u);
  EXPECT_TRUE(cap.image.has_value());
  EXPECT_FALSE(cap.script.empty());
  const CaptureCheck check = checkCapture(registry(), cap);
  EXPECT_EQ(check.moduleId, "aff");
  EXPECT_TRUE(check.ran) << check.reason;
  EXPECT_TRUE(check.matches) << check.reason;
  EXPECT_LT(check.maxDiff, 1e-5);
  EXPECT_EQ(check.params.at("r"), "4");
}

TEST_F(ScriptFixtures, CaptureOfAModifiedAffIsFlaggedAndItsTraceRuns) {
  const Capture cap = readCapture(fixture("aff_modified.flcap"));
  const CaptureCheck check = checkCapture(registry(), cap);
  EXPECT_TRUE(check.ran) << check.reason;
  EXPECT_FALSE(check.matches);
  EXPECT_GT(check.maxDiff, 1e-3);
  // Its own trace reproduces the captured output and shows its gate.
  const std::string file = writeCaptureScript(cap);
  const auto r = ScriptModel::load(file)->run(cap.inputs, false);
  removeCaptureScript(file);
  EXPECT_LT(maxDiff(r.outputs.at(0).second, cap.outputs.at(0).second), 1e-5);
  ASSERT_NE(findPoint(r, "sigmoid"), nullptr) << pointNames(r);
  EXPECT_EQ(script::pointKindName(findPoint(r, "sigmoid")->kind), "gate");
}

TEST_F(ScriptFixtures, NotACaptureIsRefused) {
  const std::string msg = errorOf([&] { readCapture(fixture("net.inputs.safetensors")); });
  EXPECT_NE(msg.find("not a FusionLens capture"), std::string::npos) << msg;
}

}  // namespace
}  // namespace fl
