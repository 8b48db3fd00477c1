// Checkpoints as PyTorch users actually have them: nested training checkpoints, DataParallel,
// BasicSR, whole networks holding the module, other dtypes (core/io/state_dict.h).
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules.h>

#include <algorithm>

#include "core/io/safetensors.h"
#include "core/io/state_dict.h"
#include "io_test_support.h"

namespace fl {
namespace {

using test::errorOf;
using test::TempDir;

const std::vector<std::string> kKeys = {"0.weight", "0.bias", "1.weight", "1.bias"};

/// A module with exactly kKeys: Conv2d(2, 3, 1) then Conv2d(3, 3, 1).
torch::nn::Sequential convConv() {
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 3, 1)),
                               torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 3, 1)));
}

NamedTensors stateWith(const std::string& prefix, float fill) {
  NamedTensors out;
  const std::vector<std::vector<int64_t>> shapes = {{3, 2, 1, 1}, {3}, {3, 3, 1, 1}, {3}};
  for (size_t i = 0; i < kKeys.size(); ++i)
    out.emplace_back(prefix + kKeys[i], at::full(shapes[i], fill + float(i)));
  return out;
}

NamedTensors concat(std::initializer_list<NamedTensors> parts) {
  NamedTensors out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<std::string> keysOf(const NamedTensors& sd) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  return keys;
}

bool hasNote(const std::vector<std::string>& notes, const std::string& text) {
  return std::any_of(notes.begin(), notes.end(),
                     [&](const std::string& n) { return n.find(text) != std::string::npos; });
}

TEST(ExtractModuleState, PlainStateDictIsTakenAsIs) {
  const ModuleState ms = extractModuleState(stateWith("", 1), kKeys, std::nullopt, "w.pt");
  EXPECT_EQ(ms.prefix, "");
  EXPECT_EQ(keysOf(ms.state), kKeys);
  EXPECT_TRUE(ms.notes.empty());
}

TEST(ExtractModuleState, NestedAndDataParallelPrefixesAreDetected) {
  for (const std::string prefix :
       {"state_dict.", "model.", "module.", "state_dict.module.", "net.module."}) {
    NamedTensors file = stateWith(prefix, 1);
    for (int i = 0; i < 4; ++i)  // optimizer state: same shapes, other names
      file.emplace_back("optimizer.state." + std::to_string(i) + ".exp_avg", at::ones({3}));
    const ModuleState ms = extractModuleState(file, kKeys, std::nullopt, "w.pt");
    EXPECT_EQ(ms.prefix, prefix);
    EXPECT_EQ(keysOf(ms.state), kKeys) << prefix;
    EXPECT_TRUE(at::equal(ms.state[0].second, at::full({3, 2, 1, 1}, 1.0f)));
    EXPECT_TRUE(hasNote(ms.notes, "from under '" + prefix + "'")) << prefix;
    EXPECT_TRUE(hasNote(ms.notes, "ignored 4 other tensors")) << prefix;
  }
  const ModuleState dp =
      extractModuleState(stateWith("state_dict.module.", 1), kKeys, std::nullopt, "w.pt");
  EXPECT_TRUE(hasNote(dp.notes, "nested checkpoint 'state_dict'"));
  EXPECT_TRUE(hasNote(dp.notes, "DataParallel 'module.'"));
}

TEST(ExtractModuleState, BasicSrPrefersParamsEmaAndPrefixPicksOther) {
  const NamedTensors file = concat({stateWith("params.", 1), stateWith("params_ema.", 5)});
  const ModuleState ms = extractModuleState(file, kKeys, std::nullopt, "net_g.pth");
  EXPECT_EQ(ms.prefix, "params_ema.");
  EXPECT_TRUE(at::equal(ms.state[0].second, at::full({3, 2, 1, 1}, 5.0f)));
  EXPECT_TRUE(hasNote(ms.notes, "also under 'params.'"));
  const ModuleState p = extractModuleState(file, kKeys, std::string("params"), "net_g.pth");
  EXPECT_EQ(p.prefix, "params.");
  EXPECT_TRUE(at::equal(p.state[0].second, at::full({3, 2, 1, 1}, 1.0f)));
}

TEST(ExtractModuleState, WholeNetworkNeedsPrefixWhenAmbiguous) {
  const NamedTensors file = concat({stateWith("encoder.fuse.", 1), stateWith("decoder.GF.", 2),
                                    {{"head.weight", at::ones({4})}}});
  const std::string msg =
      errorOf([&] { extractModuleState(file, kKeys, std::nullopt, "pgnet.pth"); },
              ErrorKind::Weights);
  EXPECT_EQ(msg.rfind("pgnet.pth: ", 0), 0u) << msg;
  EXPECT_NE(msg.find("'decoder.GF.'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'encoder.fuse.'"), std::string::npos) << msg;
  try {
    extractModuleState(file, kKeys, std::nullopt, "pgnet.pth");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), fileSubject("pgnet.pth"));
    EXPECT_EQ(e.fix(), fixBy(FixAction::ChoosePrefix));
  }

  const ModuleState ms = extractModuleState(file, kKeys, std::string("decoder.GF"), "pgnet.pth");
  EXPECT_EQ(ms.prefix, "decoder.GF.");
  EXPECT_TRUE(at::equal(ms.state[0].second, at::full({3, 2, 1, 1}, 2.0f)));
  EXPECT_TRUE(hasNote(ms.notes, "ignored 5 other tensors"));
}

TEST(ExtractModuleState, ExplicitSubmodulePrefixFindsNestedDataParallelCopy) {
  const NamedTensors file = concat({stateWith("state_dict.module.cross.", 3),
                                    stateWith("state_dict.module.other.", 4)});
  const ModuleState ms = extractModuleState(file, kKeys, std::string("cross."), "amgcfn.pth");
  EXPECT_EQ(ms.prefix, "state_dict.module.cross.");
  EXPECT_EQ(keysOf(ms.state), kKeys);
}

TEST(ExtractModuleState, UniqueSubmoduleIsFoundAutomatically) {
  const NamedTensors file = concat({stateWith("decoder.GF.", 2), {{"head.weight", at::ones({4})}}});
  const ModuleState ms = extractModuleState(file, kKeys, std::nullopt, "pgnet.pth");
  EXPECT_EQ(ms.prefix, "decoder.GF.");
}

TEST(ExtractModuleState, PartialMatchKeepsUnexpectedAndMissingForTheReport) {
  NamedTensors file = stateWith("state_dict.", 1);
  file.erase(file.begin() + 1);                               // drop 0.bias
  file.emplace_back("state_dict.extra.weight", at::ones({2}));  // and add one
  const ModuleState ms = extractModuleState(file, kKeys, std::nullopt, "w.pt");
  EXPECT_EQ(ms.prefix, "state_dict.");
  auto m = convConv();
  const WeightsReport r = matchStateDict(*m, ms.state);
  ASSERT_EQ(r.missing.size(), 1u);
  EXPECT_EQ(r.missing[0].rfind("0.bias", 0), 0u);
  ASSERT_EQ(r.unexpected.size(), 1u);
  EXPECT_EQ(r.unexpected[0].rfind("extra.weight", 0), 0u);
}

TEST(ExtractModuleState, NothingMatchingAndAbsentPrefixAreClearErrors) {
  const NamedTensors file = {{"a.b", at::ones({1})}, {"c.d", at::ones({1})}};
  std::string msg = errorOf([&] { extractModuleState(file, kKeys, std::nullopt, "x.pt"); },
                            ErrorKind::Weights);
  EXPECT_NE(msg.find("none of the module's 4 tensor names"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'a.b'"), std::string::npos) << msg;
  msg = errorOf([&] { extractModuleState(file, kKeys, std::string("nope."), "x.pt"); },
                ErrorKind::Weights);
  EXPECT_NE(msg.find("no tensor name starts with 'nope.'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'a.'"), std::string::npos) << msg;
}

TEST(ExtractModuleState, RootPrefixDisablesDetection) {
  const ModuleState ms =
      extractModuleState(stateWith("module.", 1), kKeys, std::string("."), "w.pt");
  EXPECT_EQ(ms.prefix, "");  // everything unexpected, everything missing: the strict load says so
  auto m = convConv();
  EXPECT_EQ(matchStateDict(*m, ms.state).missing.size(), 4u);
}

TEST(WeightsReport, SummaryIsCappedPerKind) {
  WeightsReport r;
  for (int i = 0; i < 25; ++i) r.unexpected.push_back("k" + std::to_string(i));
  const std::string s = r.summary();
  EXPECT_NE(s.find("25 unexpected: k0, "), std::string::npos) << s;
  EXPECT_NE(s.find("k9, ... (15 more)"), std::string::npos) << s;
  EXPECT_EQ(s.find("k10"), std::string::npos) << s;
}

/// Real torch.save checkpoints of a whole network: nested, DataParallel, BasicSR, dtypes.
const char* kNetworkFixture = R"PY(
import torch, torch.nn as nn, collections
torch.manual_seed(0)
def block():
    return nn.Sequential(nn.Conv2d(2, 3, 1), nn.Conv2d(3, 3, 1))
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 2, 3)
        self.decoder = nn.Module()
        self.decoder.GF = block()
        self.head = nn.Linear(4, 2)
net = Net()
opt = torch.optim.Adam(net.parameters())
net.decoder.GF(torch.randn(1, 2, 4, 4)).sum().backward()
opt.step()
sd = net.decoder.GF.state_dict()
torch.save(sd, 'plain.pt')
full = net.state_dict()
torch.save({'epoch': 12, 'best_psnr': 31.5, 'arch': 'pgnet', 'state_dict': full,
            'optimizer': opt.state_dict()}, 'nested.pth')
dp = collections.OrderedDict(('module.' + k, v) for k, v in full.items())
torch.save({'model': dp, 'iteration': 5000}, 'dataparallel.pth')
torch.save({'params': sd, 'params_ema': {k: v + 1 for k, v in sd.items()}}, 'basicsr.pth')
torch.save({k: v.half() for k, v in sd.items()}, 'half.pt')
torch.save({k: v.bfloat16() for k, v in sd.items()}, 'bf16.pt')
torch.save({k: v.double() for k, v in sd.items()}, 'double.pt')
two = Net(); two.encoder = block()
torch.save(two.state_dict(), 'ambiguous.pt')
)PY";

class CheckpointFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ASSERT_TRUE(test::runPython(*dir_, kNetworkFixture));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string file(const std::string& name) { return dir_->file(name); }
  static TempDir* dir_;
};
TempDir* CheckpointFiles::dir_ = nullptr;

/// Loads `path` into a fresh module and returns its parameters.
NamedTensors loadedFrom(const std::string& path, const std::optional<std::string>& prefix,
                        WeightsReport* report = nullptr) {
  auto m = convConv();
  const WeightsReport r = loadCheckpoint(*m, path, prefix);
  if (report) *report = r;
  return moduleStateDict(*m);
}

void expectSame(const NamedTensors& a, const NamedTensors& b, double tol = 0) {
  ASSERT_EQ(keysOf(a), keysOf(b));
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_TRUE(at::allclose(a[i].second, b[i].second, tol, tol)) << a[i].first;
}

TEST_F(CheckpointFiles, NestedTrainingCheckpointSkipsNonTensors) {
  const Checkpoint cp = readCheckpoint(file("nested.pth"));
  EXPECT_EQ(cp.format, "torch.save");
  EXPECT_EQ(cp.rootType, "dict");
  EXPECT_TRUE(std::find(cp.skipped.begin(), cp.skipped.end(), "epoch (int)") != cp.skipped.end());
  EXPECT_TRUE(std::find(cp.skipped.begin(), cp.skipped.end(), "arch (str)") != cp.skipped.end());
  const auto keys = keysOf(cp.tensors);
  EXPECT_TRUE(std::find(keys.begin(), keys.end(), "state_dict.decoder.GF.1.bias") != keys.end());

  const NamedTensors plain = loadedFrom(file("plain.pt"), std::nullopt);
  WeightsReport r;
  expectSame(loadedFrom(file("nested.pth"), std::nullopt, &r), plain);
  EXPECT_EQ(r.prefix, "state_dict.decoder.GF.");
  EXPECT_EQ(r.matched.size(), 4u);
  expectSame(loadedFrom(file("dataparallel.pth"), std::string("decoder.GF."), &r), plain);
  EXPECT_EQ(r.prefix, "model.module.decoder.GF.");
  EXPECT_TRUE(hasNote(r.notes, "DataParallel"));
}

TEST_F(CheckpointFiles, BasicSrAndAmbiguousNetworks) {
  const NamedTensors plain = loadedFrom(file("plain.pt"), std::nullopt);
  const NamedTensors ema = loadedFrom(file("basicsr.pth"), std::nullopt);
  for (size_t i = 0; i < plain.size(); ++i)
    EXPECT_TRUE(at::allclose(ema[i].second, plain[i].second + 1)) << plain[i].first;
  expectSame(loadedFrom(file("basicsr.pth"), std::string("params.")), plain);

  auto m = convConv();
  const std::string msg = errorOf([&] { loadCheckpoint(*m, file("ambiguous.pt")); },
                                  ErrorKind::Weights);
  EXPECT_NE(msg.find("'decoder.GF.'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'encoder.'"), std::string::npos) << msg;
  try {
    loadCheckpoint(*m, file("ambiguous.pt"));
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.fix(), fixBy(FixAction::ChoosePrefix));
  }
}

TEST_F(CheckpointFiles, HalfBFloat16AndDoubleAreConverted) {
  const NamedTensors plain = loadedFrom(file("plain.pt"), std::nullopt);
  WeightsReport r;
  expectSame(loadedFrom(file("double.pt"), std::nullopt, &r), plain, 1e-7);
  EXPECT_TRUE(hasNote(r.notes, "converted 4 Double tensors to Float"));
  expectSame(loadedFrom(file("half.pt"), std::nullopt, &r), plain, 1e-2);
  EXPECT_TRUE(hasNote(r.notes, "Half"));
  expectSame(loadedFrom(file("bf16.pt"), std::nullopt, &r), plain, 2e-2);
  EXPECT_TRUE(hasNote(r.notes, "BFloat16"));
  for (const auto& [k, v] : loadedFrom(file("half.pt"), std::nullopt))
    EXPECT_EQ(v.scalar_type(), at::kFloat) << k;
}

TEST_F(CheckpointFiles, PrefixedSafetensorsToo) {
  NamedTensors prefixed;
  for (const auto& [k, v] : loadedFrom(file("plain.pt"), std::nullopt))
    prefixed.emplace_back("module.cross." + k, v);
  prefixed.emplace_back("module.head.weight", at::ones({2}));
  writeSafetensors(file("net.safetensors"), prefixed);
  WeightsReport r;
  expectSame(loadedFrom(file("net.safetensors"), std::nullopt, &r),
             loadedFrom(file("plain.pt"), std::nullopt));
  EXPECT_EQ(r.prefix, "module.cross.");
}

TEST_F(CheckpointFiles, MismatchInsideNestedCheckpointNamesThePrefix) {
  auto m = torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(2, 3, 1)),
                                 torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 5, 1)));
  const std::string msg =
      errorOf([&] { loadCheckpoint(*m, file("nested.pth"), std::string("decoder.GF.")); },
              ErrorKind::Weights);
  EXPECT_NE(msg.find("(tensors under 'state_dict.decoder.GF.')"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1.weight: file [3, 3, 1, 1] vs module [5, 3, 1, 1]"), std::string::npos)
      << msg;
}

}  // namespace
}  // namespace fl
