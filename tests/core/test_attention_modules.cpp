// osra and cmgm, the (HW)^2 attention modules: sizes and keys against modules.md (§6, §8,
// Appendix A), query-chunked computation equal to the full one, attention rows for chosen
// query pixels, the memory guard, and cmgm's faithful-mode constraint.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <cmath>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "tensor_checks.h"
#include "test_registry.h"
#include "core/common/error.h"
#include "core/io/state_dict.h"
#include "core/modules/attention_rows.h"
#include "core/modules/cmgm.h"
#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/osra.h"
#include "core/modules/probe.h"
#include "core/modules/registry.h"
#include "core/common/memory.h"
#include "core/run/run.h"

namespace fl {
namespace {

using KeyShapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

using test::contains;
using test::expectClose;
using test::randomize;
using test::registry;

int64_t paramCount(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& t : m.parameters()) n += t.numel();
  return n;
}

/// Keys and shapes of the state_dict (parameters and buffers) as a map, and the order of
/// the parameters (named_parameters follows registration order, as PyTorch's state_dict).
std::map<std::string, std::vector<int64_t>> keyMap(const torch::nn::Module& m) {
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& [k, v] : moduleStateDict(m)) out[k] = v.sizes().vec();
  return out;
}

void expectKeys(const torch::nn::Module& m, const KeyShapes& want) {
  std::map<std::string, std::vector<int64_t>> w(want.begin(), want.end());
  EXPECT_EQ(keyMap(m), w);
  std::vector<std::string> paramOrder, wantOrder;
  for (const auto& p : m.named_parameters()) paramOrder.push_back(p.key());
  const auto buffers = m.named_buffers();
  for (const auto& [k, s] : want) {
    if (!buffers.contains(k)) wantOrder.push_back(k);
  }
  EXPECT_EQ(paramOrder, wantOrder) << "parameter registration order differs from Appendix A";
}

KeyShapes bn(const std::string& prefix, int64_t c) {
  return {{prefix + ".weight", {c}},       {prefix + ".bias", {c}},
          {prefix + ".running_mean", {c}}, {prefix + ".running_var", {c}},
          {prefix + ".num_batches_tracked", {}}};
}

KeyShapes concat(std::initializer_list<KeyShapes> parts) {
  KeyShapes out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// ---- OSRA: sizes, keys ---------------------------------------------------------------------

TEST(Osra, ParameterCountsMatchTheSeedClass) {
  Osra sr2(OsraOptions(64));
  EXPECT_EQ(paramCount(*sr2), 15040);
  Osra sr1(OsraOptions(64).sr_ratio(1));
  EXPECT_EQ(paramCount(*sr1), 13120);
  Osra official(OsraOptions(64).variant(OsraVariant::TransXNet));
  EXPECT_EQ(paramCount(*official), 15040);
}

TEST(Osra, SeedKeysAndShapesFollowAppendixA) {
  Osra m(OsraOptions(64));
  expectKeys(*m, concat({{{"q.weight", {64, 64, 1, 1}},
                          {"q.bias", {64}},
                          {"kv.weight", {128, 64, 1, 1}},
                          {"kv.bias", {128}},
                          {"sr.0.weight", {64, 1, 5, 5}}},
                         bn("sr.1", 64),
                         {{"sr.3.weight", {64, 1, 1, 1}}},
                         bn("sr.4", 64),
                         {{"local_conv.weight", {64, 1, 3, 3}}, {"local_conv.bias", {64}}}}));
  EXPECT_EQ(moduleStateDict(*m).size(), 18u);
}

TEST(Osra, SrRatioOneHasNoSrKeys) {
  Osra m(OsraOptions(64).sr_ratio(1));
  expectKeys(*m, {{"q.weight", {64, 64, 1, 1}},
                  {"q.bias", {64}},
                  {"kv.weight", {128, 64, 1, 1}},
                  {"kv.bias", {128}},
                  {"local_conv.weight", {64, 1, 3, 3}},
                  {"local_conv.bias", {64}}});
  Osra official(OsraOptions(64).sr_ratio(1).variant(OsraVariant::TransXNet));
  EXPECT_EQ(keyMap(*official), keyMap(*m));
}

TEST(Osra, TransXNetVariantUsesConvModuleKeys) {
  Osra m(OsraOptions(64).sr_ratio(3).variant(OsraVariant::TransXNet));
  expectKeys(*m, concat({{{"q.weight", {64, 64, 1, 1}},
                          {"q.bias", {64}},
                          {"kv.weight", {128, 64, 1, 1}},
                          {"kv.bias", {128}},
                          {"sr.0.conv.weight", {64, 1, 6, 6}}},
                         bn("sr.0.bn", 64),
                         {{"sr.1.conv.weight", {64, 1, 1, 1}}},
                         bn("sr.1.bn", 64),
                         {{"local_conv.weight", {64, 1, 3, 3}}, {"local_conv.bias", {64}}}}));
}

TEST(Osra, TransXNetUsesGeluWhereTheSeedUsesRelu) {
  // Same weights under both key layouts: the outputs differ only through the activation.
  Osra seed(OsraOptions(16).num_heads(4));
  Osra official(OsraOptions(16).num_heads(4).variant(OsraVariant::TransXNet));
  randomize(*seed, 3);
  const std::map<std::string, std::string> rename{{"sr.0.weight", "sr.0.conv.weight"},
                                                  {"sr.3.weight", "sr.1.conv.weight"}};
  NamedTensors state;
  for (auto [k, v] : moduleStateDict(*seed)) {
    if (rename.count(k)) {
      k = rename.at(k);
    } else if (k.rfind("sr.1.", 0) == 0) {
      k = "sr.0.bn." + k.substr(5);
    } else if (k.rfind("sr.4.", 0) == 0) {
      k = "sr.1.bn." + k.substr(5);
    }
    state.emplace_back(k, v);
  }
  loadStateDict(*official, state, "seed weights");
  official->eval();
  torch::NoGradGuard noGrad;
  const auto x = at::randn({1, 16, 7, 9});
  const auto a = seed->forward(x), b = official->forward(x);
  EXPECT_FALSE(at::allclose(a, b, 1e-5, 1e-6)) << "GELU and ReLU should give different outputs";
  // ... and the official path is the seed's with GELU: rebuild it by hand.
  const auto kv0 = official->sr->forward(x);
  auto manual = seed->sr[1]->as<torch::nn::BatchNorm2d>()->forward(
      seed->sr[0]->as<torch::nn::Conv2d>()->forward(x));
  manual = seed->sr[4]->as<torch::nn::BatchNorm2d>()->forward(
      seed->sr[3]->as<torch::nn::Conv2d>()->forward(at::gelu(manual)));
  expectClose(kv0, manual, "transxnet sr = BN(conv1x1(GELU(BN(conv(x)))))");
}

TEST(Osra, OddAndEvenSrRatiosGiveTheDocumentedKeyGrid) {
  // modules.md §6: 7x7 gives 4x4 (sr=2), 3x3 (sr=3), 2x2 (sr=4); 56 with sr=8 gives 7.
  EXPECT_EQ(osraReducedSize(7, 2), 4);
  EXPECT_EQ(osraReducedSize(7, 3), 3);
  EXPECT_EQ(osraReducedSize(7, 4), 2);
  EXPECT_EQ(osraReducedSize(56, 8), 7);
  EXPECT_EQ(osraReducedSize(7, 1), 7);
  torch::NoGradGuard noGrad;
  const auto x = at::randn({1, 64, 7, 7});
  const std::vector<std::pair<int64_t, int64_t>> srSide{{1, 7}, {2, 4}, {3, 3}, {4, 2}};
  for (const auto& [sr, side] : srSide) {
    Osra m(OsraOptions(64).sr_ratio(sr));
    randomize(*m, 1);
    EXPECT_EQ(m->sr ? m->sr->forward(x).sizes().vec() : x.sizes().vec(),
              (std::vector<int64_t>{1, 64, side, side}))
        << "sr=" << sr;
    probe::Scope scope;
    const auto out = m->forward(x);
    EXPECT_EQ(out.sizes().vec(), x.sizes().vec());
    const auto& attn = scope.records().at("attention");
    EXPECT_EQ(attn.sizes().vec(), (std::vector<int64_t>{1, 8, 49, side * side})) << "sr=" << sr;
    expectClose(attn.sum(-1), at::ones({1, 8, 49}), "attention rows sum to 1");
  }
}

TEST(Osra, ForwardMatchesTheFormulaOfModulesMd) {
  // q from x, k/v from kv(sr(x) + local_conv(sr(x))), k = first C kv channels, heads own
  // contiguous channel blocks, no output projection.
  Osra m(OsraOptions(8).num_heads(2).sr_ratio(2).qk_scale(0.3));
  randomize(*m, 5);
  torch::NoGradGuard noGrad;
  const auto x = at::randn({2, 8, 5, 6});
  const auto out = m->forward(x);
  const auto q = m->q->forward(x).reshape({2, 2, 4, 30}).transpose(-1, -2);
  const auto kv0 = m->sr->forward(x);
  const auto kvs = m->kv->forward(m->local_conv->forward(kv0) + kv0).reshape({2, 16, -1});
  const auto k = kvs.narrow(1, 0, 8).reshape({2, 2, 4, -1});
  const auto v = kvs.narrow(1, 8, 8).reshape({2, 2, 4, -1}).transpose(-1, -2);
  const auto attn = at::softmax(at::matmul(q, k) * 0.3, -1);
  expectClose(out, at::matmul(attn, v).transpose(-1, -2).reshape({2, 8, 5, 6}), "osra output");
}

// ---- OSRA: chunked == full, attention rows --------------------------------------------------

TEST(Osra, QueryChunksGiveTheFullOutputAtEveryChunkSize) {
  const OsraOptions opts = OsraOptions(16).num_heads(4).sr_ratio(3);
  Osra m(opts);
  randomize(*m, 7);
  torch::NoGradGuard noGrad;
  const auto x = at::randn({2, 16, 7, 9});  // N = 63, Nk = 3 x 4 (odd sr: floor(H/3) + 1)
  const OsraMemory mem = osraMemory(opts, x.sizes().vec());
  ASSERT_EQ(mem.n, 63);
  ASSERT_EQ(mem.nk, 12);

  at::Tensor full, fullAttn;
  {
    probe::Scope scope;
    full = m->forward(x);
    fullAttn = scope.records().at("attention");
    EXPECT_TRUE(m->warnings().empty());
  }
  for (const int64_t rows : {1, 2, 8, 10, 31, 40}) {  // 8, 10 and 40 do not divide 63
    SCOPED_TRACE("rows per chunk " + std::to_string(rows));
    const int64_t budget = attn::budgetForUsable(mem.fixedBytes + rows * mem.rowBytes);
    ASSERT_LT(budget, mem.fullBytes());
    m->options.memory_budget(budget);
    probe::Scope scope;
    expectClose(m->forward(x), full, "chunked output");
    EXPECT_EQ(scope.records().count("attention"), 0u) << "the full probe must be withheld";
    ASSERT_EQ(m->warnings().size(), 1u);
    const std::string chunks = std::to_string((63 + rows - 1) / rows) + " chunks of " +
                               std::to_string(rows) + " query rows";
    EXPECT_TRUE(contains(m->warnings()[0], chunks)) << m->warnings()[0];
    EXPECT_TRUE(contains(m->warnings()[0], "'attention' probe")) << m->warnings()[0];
  }
  // Exactly enough for the full computation: one chunk, probe recorded.
  m->options.memory_budget(mem.fullBytes());
  probe::Scope scope;
  expectClose(m->forward(x), full, "budget = full estimate");
  EXPECT_TRUE(m->warnings().empty());
  expectClose(scope.records().at("attention"), fullAttn, "probe at the full budget");
}

TEST(Osra, AttentionRowsAreTheRowsOfTheFullMatrix) {
  const Shape shape{2, 16, 7, 9};
  const ModuleDescriptor& d = registry().get("osra");
  const Params p = resolveParams("osra", d.params, {{"num_heads", "4"}, {"sr_ratio", "2"}});
  auto inst = d.make(p, {shape});
  randomize(*inst->module, 11);
  torch::NoGradGuard noGrad;
  const std::vector<at::Tensor> in{at::randn(shape)};
  at::Tensor full;
  {
    probe::Scope scope;
    inst->forward(in);
    full = scope.records().at("attention");  // [2,4,63,20]
  }
  ASSERT_EQ(full.sizes().vec(), (std::vector<int64_t>{2, 4, 63, 20}));
  const std::vector<int64_t> queries{0, 62, 31, 5, 31, 40};
  const auto idx = at::tensor(queries, at::kLong);
  const auto want = full.index_select(2, idx);
  expectClose(attentionRows(*inst, in, queries), want, "attention rows");
  // The same rows under a budget that forces one query row per chunk.
  const OsraMemory mem = osraMemory(OsraOptions(16).num_heads(4).sr_ratio(2), shape);
  inst->setMemoryBudget(attn::budgetForUsable(mem.fixedBytes + 6 * 2 * 4 * 20 * 4 + mem.rowBytes));
  expectClose(attentionRows(*inst, in, queries), want, "attention rows, 1-row chunks");
  // Bad indices are input errors, not crashes.
  try {
    attentionRows(*inst, in, {63});
    FAIL() << "index 63 of 63 pixels must be refused";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Input);
    EXPECT_TRUE(contains(e.what(), "[0, 63)")) << e.what();
  }
  EXPECT_THROW(attentionRows(*inst, in, {}), Error);
  EXPECT_THROW(attentionRows(*inst, in, {-1}), Error);
}

TEST(Osra, RelativePositionEncodingIsResizedAddedAndChunkedExactly) {
  // TransXNet's relative_pos_enc: [1,h,Hr*Wr, ceil(Hr/sr)*ceil(Wr/sr)], resized bicubically to
  // the logits [N,Nk] and added before the softmax.
  const Shape shape{2, 16, 9, 13};  // N = 117; sr 3: Nk = 4 x 5 = 20
  const ModuleDescriptor& d = registry().get("osra");
  const std::map<std::string, std::string> base{{"num_heads", "4"}, {"sr_ratio", "3"}};
  auto withRpe = base;
  withRpe["relative_pos_enc"] = "true";
  withRpe["pos_enc_grid"] = "8,8";
  const Params p = resolveParams("osra", d.params, withRpe);
  ASSERT_EQ(d.check(p, {shape}).message(), "");
  auto inst = d.make(p, {shape});
  at::Tensor rpe;
  for (const auto& [k, v] : moduleStateDict(*inst->module)) {
    if (k == "relative_pos_enc") rpe = v;
  }
  ASSERT_TRUE(rpe.defined()) << "no relative_pos_enc key";
  EXPECT_EQ(rpe.sizes().vec(), (std::vector<int64_t>{1, 4, 64, 9}));
  EXPECT_EQ(rpe.abs().sum().item<double>(), 0.0) << "zeros before weights are loaded";

  // A zero encoding is the module without one.
  auto plain = d.make(resolveParams("osra", d.params, base), {shape});
  randomize(*plain->module, 13);
  auto sd = moduleStateDict(*plain->module);
  sd.emplace_back("relative_pos_enc", at::zeros({1, 4, 64, 9}));
  loadStateDict(*inst->module, sd, "test");
  inst->module->eval();
  torch::NoGradGuard noGrad;
  const std::vector<at::Tensor> in{at::randn(shape)};
  expectClose(inst->forward(in).at(0), plain->forward(in).at(0), "zero encoding");

  // A random one changes the attention by exactly the resized bias.
  for (auto& [k, v] : sd) {
    if (k == "relative_pos_enc") v = at::randn({1, 4, 64, 9});
  }
  loadStateDict(*inst->module, sd, "test");
  at::Tensor full, fullAttn, plainAttn;
  {
    probe::Scope scope;
    full = inst->forward(in).at(0);
    fullAttn = scope.records().at("attention");
  }
  {
    probe::Scope scope;
    plain->forward(in);
    plainAttn = scope.records().at("attention");
  }
  const auto bias = at::upsample_bicubic2d(sd.back().second, {117, 20}, false);
  expectClose(at::log_softmax(fullAttn.log() - bias, -1).exp(), plainAttn,
              "attention = softmax(logits + resized encoding)");

  // Chunked and attention rows agree with the full computation, encoding included.
  const OsraMemory mem = osraMemory(
      OsraOptions(16).num_heads(4).sr_ratio(3).pos_enc_height(8).pos_enc_width(8), shape);
  inst->setMemoryBudget(attn::budgetForUsable(mem.fixedBytes + 7 * mem.rowBytes));
  probe::Scope scope;
  expectClose(inst->forward(in).at(0), full, "chunked with the encoding");
  EXPECT_EQ(scope.records().count("attention"), 0u);
  ASSERT_EQ(inst->warnings().size(), 1u);
  EXPECT_TRUE(contains(inst->warnings()[0], "chunks of 7 query rows")) << inst->warnings()[0];
  const std::vector<int64_t> queries{0, 116, 58, 3};
  expectClose(attentionRows(*inst, in, queries),
              fullAttn.index_select(2, at::tensor(queries, at::kLong)), "rows with the encoding");

  // The grid must be two sizes.
  const Problem err =
      d.check(resolveParams("osra", d.params, {{"relative_pos_enc", "true"}, {"pos_enc_grid", "8"}}),
              {shape});
  EXPECT_TRUE(contains(err.message(), "two sizes H,W (e.g. 56,56)")) << err.message();
  EXPECT_EQ(err.subject(), parameterSubject("pos_enc_grid"));
  EXPECT_EQ(err.fix(), setParameter("pos_enc_grid", "0,0"));  // the input's own size
}

TEST(Osra, CheckExplainsIndivisibleChannels) {
  const ModuleDescriptor& d = registry().get("osra");
  const Params p = resolveParams("osra", d.params, {});
  EXPECT_EQ(d.check(p, {{1, 64, 7, 7}}).message(), "");
  const Problem err = d.check(p, {{1, 60, 7, 7}});
  EXPECT_TRUE(contains(err.message(), "num_heads = 8")) << err.message();
  EXPECT_EQ(err.subject(), parameterSubject("num_heads"));
  EXPECT_EQ(err.fix(), setParameter("num_heads", "6"));
}

TEST(Osra, RunChunksOverTheBudgetAndWithholdsTheProbe) {
  const ModuleDescriptor& d = registry().get("osra");
  const Shape shape{1, 16, 9, 11};
  const Params p = resolveParams("osra", d.params, {{"num_heads", "2"}, {"sr_ratio", "1"}});
  RunRequest req;
  req.moduleId = "osra";
  req.params = {{"num_heads", "2"}, {"sr_ratio", "1"}};
  req.seed = 4;
  req.device = DeviceChoice::Cpu;
  req.inputs = {at::randn(shape)};
  const RunResult full = run(registry(), req);
  ASSERT_TRUE(full.ok) << full.error;
  ASSERT_NE(full.findProbe("attention"), nullptr);
  EXPECT_TRUE(full.warnings.empty());

  // The budget counts the module's weights beside the forward.
  const int64_t weights = desc::stateBytes(d.state(p, {shape}));
  EXPECT_EQ(full.estimatedBytes, weights + d.memoryBytes(p, {shape}));

  req.maxMemoryBytes = weights + (d.memoryBytes(p, {shape}) + d.minMemoryBytes(p, {shape})) / 2;
  const RunResult chunked = run(registry(), req);
  ASSERT_TRUE(chunked.ok) << chunked.error;
  // The estimate reported is the chunked working set, not the unchunked one over the budget.
  EXPECT_LE(chunked.estimatedBytes, req.maxMemoryBytes);
  EXPECT_GE(chunked.estimatedBytes, d.minMemoryBytes(p, {shape}));
  EXPECT_LT(chunked.estimatedBytes, d.memoryBytes(p, {shape}));
  expectClose(chunked.outputs.at(0), full.outputs.at(0), "run output, chunked");
  EXPECT_EQ(chunked.findProbe("attention"), nullptr);
  ASSERT_EQ(chunked.warnings.size(), 1u);
  EXPECT_TRUE(contains(chunked.warnings[0], "chunks of")) << chunked.warnings[0];

  req.maxMemoryBytes = weights + d.minMemoryBytes(p, {shape}) - 1;
  const RunResult refused = run(registry(), req);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.errorKind, ErrorKind::Memory);
}

// ---- CMGM: sizes, keys, constraints ----------------------------------------------------------

KeyShapes cmgmKeys() {
  return concat({{{"k.weight", {64, 64}},
                  {"k.bias", {64}},
                  {"qv.weight", {128, 64}},
                  {"qv.bias", {128}},
                  {"proj.weight", {64, 64}},
                  {"proj.bias", {64}},
                  {"conv.weight", {8, 8, 3, 3}},
                  {"conv.bias", {8}},
                  {"lnx.weight", {64}},
                  {"lnx.bias", {64}},
                  {"lny.weight", {64}},
                  {"lny.bias", {64}}},
                 bn("bn", 8),
                 {{"conv2.0.weight", {64, 64, 3, 3}}, {"conv2.0.bias", {64}}},
                 bn("conv2.1", 64),
                 {{"conv2.3.weight", {64, 64, 3, 3}}, {"conv2.3.bias", {64}}},
                 bn("conv2.4", 64)});
}

TEST(Cmgm, ParameterCountAndKeysFollowAppendixA) {
  Cmgm m(CmgmOptions(64));
  EXPECT_EQ(paramCount(*m), 91608);
  expectKeys(*m, cmgmKeys());
  EXPECT_EQ(moduleStateDict(*m).size(), 31u);
  // generalized mode has the same keys at 64/8
  Cmgm g(CmgmOptions(64).mode(CmgmMode::Generalized));
  EXPECT_EQ(keyMap(*g), keyMap(*m));
}

TEST(Cmgm, QkvBiasFalseDropsOnlyTheKAndQvBiases) {
  Cmgm m(CmgmOptions(64).qkv_bias(false));
  auto keys = keyMap(*m);
  EXPECT_EQ(keys.count("k.bias"), 0u);
  EXPECT_EQ(keys.count("qv.bias"), 0u);
  EXPECT_EQ(keys.count("proj.bias"), 1u);
  EXPECT_EQ(paramCount(*m), 91608 - 64 - 128);
}

TEST(Cmgm, FaithfulModeRejectsOtherSizesWithAFix) {
  const ModuleDescriptor& d = registry().get("cmgm");
  const Params faithful = resolveParams("cmgm", d.params, {});
  EXPECT_EQ(d.check(faithful, {{1, 64, 5, 7}, {1, 64, 5, 7}}).message(), "");
  for (const Shape& s : {Shape{1, 32, 5, 7}, Shape{1, 128, 5, 7}}) {
    const Problem err = d.check(faithful, {s, s});
    EXPECT_TRUE(contains(err.message(), "C = 64")) << err.message();
    EXPECT_EQ(err.subject(), parameterSubject("mode"));
    EXPECT_EQ(err.fix(), setParameter("mode", "generalized"));
  }
  const Params heads4 = resolveParams("cmgm", d.params, {{"num_heads", "4"}});
  EXPECT_TRUE(contains(d.check(heads4, {{1, 64, 5, 7}, {1, 64, 5, 7}}).message(), "num_heads = 8"));
  EXPECT_THROW(Cmgm(CmgmOptions(32)), c10::Error);

  const Params gen = resolveParams("cmgm", d.params, {{"num_heads", "4"}, {"mode", "generalized"}});
  EXPECT_EQ(d.check(gen, {{1, 32, 5, 7}, {1, 32, 5, 7}}).message(), "");
  const Problem indivisible = d.check(gen, {{1, 30, 5, 7}, {1, 30, 5, 7}});
  EXPECT_TRUE(contains(indivisible.message(), "not divisible")) << indivisible.message();
  EXPECT_EQ(indivisible.fix(), setParameter("num_heads", "3"));  // the largest divisor <= 4
  EXPECT_FALSE(d.check(gen, {{1, 32, 5, 7}, {1, 32, 5, 6}}).empty()) << "x and y must match";

  // run() reports it as an input error, before building anything.
  RunRequest req;
  req.moduleId = "cmgm";
  req.inputs = {at::randn({1, 32, 5, 7}), at::randn({1, 32, 5, 7})};
  const RunResult res = run(registry(), req);
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.errorKind, ErrorKind::Input);
  EXPECT_TRUE(contains(res.error, "mode=generalized")) << res.error;
}

TEST(Cmgm, GeneralizedModeScalesChannelsAndHeads) {
  Cmgm m(CmgmOptions(32).num_heads(4).mode(CmgmMode::Generalized));
  auto keys = keyMap(*m);
  EXPECT_EQ(keys.at("conv.weight"), (std::vector<int64_t>{4, 4, 3, 3}));
  EXPECT_EQ(keys.at("bn.running_var"), (std::vector<int64_t>{4}));
  EXPECT_EQ(keys.at("lnx.weight"), (std::vector<int64_t>{32}));
  EXPECT_EQ(keys.at("conv2.3.weight"), (std::vector<int64_t>{32, 32, 3, 3}));
  randomize(*m, 2);
  torch::NoGradGuard noGrad;
  probe::Scope scope;
  const auto [out, cam] = m->forward(at::randn({2, 32, 3, 5}), at::randn({2, 32, 3, 5}));
  EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{2, 32, 3, 5}));
  EXPECT_EQ(cam.sizes().vec(), (std::vector<int64_t>{2, 4, 15, 15}));
  EXPECT_EQ(scope.records().at("attention").sizes().vec(), (std::vector<int64_t>{2, 4, 15, 15}));
}

TEST(Cmgm, ForwardFollowsPgnetGrafting) {
  // modules.md §8: keys from y, queries and values from x, residual = pre-LayerNorm x tokens,
  // conv2(x) + x, cam = ReLU(BN(conv(attn + attn^T))).
  Cmgm m(CmgmOptions(16).num_heads(2).mode(CmgmMode::Generalized));
  randomize(*m, 9);
  torch::NoGradGuard noGrad;
  const auto x = at::randn({2, 16, 3, 4}), y = at::randn({2, 16, 3, 4});
  probe::Scope scope;
  const auto [out, cam] = m->forward(x, y);
  const auto xt = x.reshape({2, 16, 12}).permute({0, 2, 1});
  const auto yt = y.reshape({2, 16, 12}).permute({0, 2, 1});
  const auto k = m->k->forward(m->lny->forward(yt)).reshape({2, 12, 2, 8}).permute({0, 2, 1, 3});
  const auto qv = m->qv->forward(m->lnx->forward(xt));
  const auto q = qv.narrow(2, 0, 16).reshape({2, 12, 2, 8}).permute({0, 2, 1, 3});
  const auto v = qv.narrow(2, 16, 16).reshape({2, 12, 2, 8}).permute({0, 2, 1, 3});
  const auto attn = at::softmax(at::matmul(q, k.transpose(-2, -1)) * std::pow(8.0, -0.5), -1);
  auto o = m->proj->forward(at::matmul(attn, v).transpose(1, 2).reshape({2, 12, 16})) + xt;
  o = o.permute({0, 2, 1}).reshape({2, 16, 3, 4});
  expectClose(out, m->conv2->forward(o) + o, "output.0");
  expectClose(cam, at::relu(m->bn->forward(m->conv->forward(attn + attn.transpose(-2, -1)))),
              "cam");
  expectClose(scope.records().at("attention"), attn, "attention probe");
}

// ---- CMGM: chunked == full, rows, the memory guard --------------------------------------------

struct CmgmFixture {
  CmgmOptions opts = CmgmOptions(64);
  Cmgm m{nullptr};
  at::Tensor x, y, out, cam, attn;
  CmgmMemory mem;

  explicit CmgmFixture(const Shape& shape) {
    m = Cmgm(opts);
    randomize(*m, 21);
    torch::NoGradGuard noGrad;
    x = at::randn(shape);
    y = at::randn(shape);
    mem = cmgmMemory(opts, shape);
    probe::Scope scope;
    std::tie(out, cam) = m->forward(x, y);
    attn = scope.records().at("attention");
  }
};

TEST(Cmgm, ChunkedOutputEqualsTheFullOneAndWithholdsCamWhenItDoesNotFit) {
  CmgmFixture f({2, 64, 5, 7});  // N = 35
  torch::NoGradGuard noGrad;
  const int64_t a = f.mem.attentionBytes();
  for (const int64_t rows : {1, 4, 6, 17}) {  // 4, 6 and 17 do not divide 35
    SCOPED_TRACE("rows per chunk " + std::to_string(rows));
    const int64_t budget = attn::budgetForUsable(f.mem.fixedBytes + rows * f.mem.rowBytes);
    ASSERT_LT(budget - f.mem.fixedBytes - a, 3 * f.mem.camRowBytes) << "cam must not fit";
    const CmgmPlan plan = cmgmPlan(f.mem, budget, true);
    ASSERT_FALSE(plan.direct);
    ASSERT_EQ(plan.rows, rows);
    ASSERT_FALSE(plan.cam);
    ASSERT_FALSE(plan.probe);
    f.m->options.memory_budget(budget);
    probe::Scope scope;
    const auto [out, cam] = f.m->forward(f.x, f.y);
    expectClose(out, f.out, "output.0 chunked");
    EXPECT_FALSE(cam.defined()) << "cam cannot be produced within this budget";
    EXPECT_EQ(scope.records().count("attention"), 0u);
    ASSERT_EQ(f.m->warnings().size(), 1u);
    EXPECT_TRUE(contains(f.m->warnings()[0], "cam (output.1)")) << f.m->warnings()[0];
    EXPECT_TRUE(contains(f.m->warnings()[0], "was not produced")) << f.m->warnings()[0];
    EXPECT_TRUE(contains(f.m->warnings()[0], "not recorded")) << f.m->warnings()[0];
  }
}

TEST(Cmgm, CamFromRowChunksEqualsTheFullCam) {
  CmgmFixture f({2, 64, 6, 9});  // N = 54
  torch::NoGradGuard noGrad;
  const int64_t a = f.mem.attentionBytes();
  for (const int64_t camRows : {1, 2, 7, 11}) {  // 7 and 11 do not divide 54
    SCOPED_TRACE("cam rows per chunk " + std::to_string(camRows));
    // the cam buffer + (rows + 2 halo rows) of cam work; no probe scope is open
    const int64_t budget =
        attn::budgetForUsable(f.mem.fixedBytes + a + (camRows + 2) * f.mem.camRowBytes);
    const CmgmPlan plan = cmgmPlan(f.mem, budget, /*probeWanted=*/false);
    ASSERT_FALSE(plan.direct);
    ASSERT_TRUE(plan.cam);
    ASSERT_EQ(plan.camRows, camRows);
    f.m->options.memory_budget(budget);
    const auto [out, cam] = f.m->forward(f.x, f.y);
    expectClose(out, f.out, "output.0");
    expectClose(cam, f.cam, "cam from row chunks");
    ASSERT_EQ(f.m->warnings().size(), 1u);
    EXPECT_TRUE(contains(f.m->warnings()[0], "cam (output.1) from")) << f.m->warnings()[0];
  }
}

TEST(Cmgm, ChunkedRunRecordsTheProbeWhenItFits) {
  CmgmFixture f({1, 64, 6, 6});  // N = 36
  torch::NoGradGuard noGrad;
  const int64_t a = f.mem.attentionBytes();
  // room for the probe (buffer + its copy), the cam buffer and 3 cam rows at a time
  const int64_t budget = attn::budgetForUsable(f.mem.fixedBytes + 2 * a + 5 * f.mem.camRowBytes);
  ASSERT_LT(budget, f.mem.fullBytes());
  const CmgmPlan plan = cmgmPlan(f.mem, budget, true);
  ASSERT_FALSE(plan.direct);
  ASSERT_TRUE(plan.cam);
  ASSERT_TRUE(plan.probe);
  EXPECT_EQ(plan.camRows, 3);
  f.m->options.memory_budget(budget);
  probe::Scope scope;
  const auto [out, cam] = f.m->forward(f.x, f.y);
  expectClose(out, f.out, "output.0");
  expectClose(cam, f.cam, "cam");
  expectClose(scope.records().at("attention"), f.attn, "attention probe from chunks");
  ASSERT_EQ(f.m->warnings().size(), 1u);
  EXPECT_TRUE(contains(f.m->warnings()[0], "probe was recorded")) << f.m->warnings()[0];
}

TEST(Cmgm, AttentionRowsAreTheRowsOfTheFullMatrix) {
  CmgmFixture f({2, 64, 5, 7});
  torch::NoGradGuard noGrad;
  const std::vector<int64_t> queries{34, 0, 17, 17, 3};
  const auto want = f.attn.index_select(2, at::tensor(queries, at::kLong));
  EXPECT_EQ(want.sizes().vec(), (std::vector<int64_t>{2, 8, 5, 35}));
  f.m->options.memory_budget(0);
  expectClose(f.m->attentionRows(f.x, f.y, queries), want, "rows");
  f.m->options.memory_budget(
      attn::budgetForUsable(f.mem.fixedBytes + 2 * 8 * 5 * 35 * 4 + 2 * f.mem.rowBytes));
  expectClose(f.m->attentionRows(f.x, f.y, queries), want, "rows in 2-row chunks");
  // through the instance API
  const ModuleDescriptor& d = registry().get("cmgm");
  auto inst = d.make(resolveParams("cmgm", d.params, {}), {f.x.sizes().vec(), f.y.sizes().vec()});
  loadStateDict(*inst->module, moduleStateDict(*f.m), "fixture");
  inst->module->eval();
  expectClose(attentionRows(*inst, {f.x, f.y}, queries), want, "attentionRows()");
  EXPECT_THROW(attentionRows(*inst, {f.x, f.y}, {35}), Error);
}

TEST(Cmgm, RunAtTheSeedDemoSizeIsRefusedWithTheEstimate) {
  // The seed's demo, 1x64x352x352: N = 123904, one attention tensor is 457.5 GiB. Only the
  // estimate is computed; the small budget refuses before anything N^2 is allocated.
  const ModuleDescriptor& d = registry().get("cmgm");
  const Params p = resolveParams("cmgm", d.params, {});
  const Shape s{1, 64, 352, 352};
  const int64_t attn = int64_t{8} * 123904 * 123904 * 4;
  EXPECT_NEAR(static_cast<double>(attn) / (int64_t{1} << 30), 457.5, 0.1);
  const int64_t full = d.memoryBytes(p, {s, s});
  EXPECT_GE(full, 5 * attn) << "probe copy, conv input, mkldnn's copies and the conv output";
  EXPECT_LE(full, 6 * attn);
  const int64_t min = d.minMemoryBytes(p, {s, s});
  EXPECT_LT(min, int64_t{2} << 30) << "output.0 alone runs in query chunks";

  RunRequest req;
  req.moduleId = "cmgm";
  req.maxMemoryBytes = int64_t{256} << 20;
  const auto x = at::zeros({1, 64, 1, 1}).expand(s);  // 32 MiB once made contiguous
  req.inputs = {x, x};
  const RunResult res = run(registry(), req);
  ASSERT_FALSE(res.ok);
  EXPECT_EQ(res.errorKind, ErrorKind::Memory);
  EXPECT_TRUE(contains(res.error, "needs about " + formatBytes(full))) << res.error;
  EXPECT_TRUE(contains(res.error, formatBytes(min) + " when computed in query chunks"))
      << res.error;
  EXPECT_TRUE(contains(res.error, "memory budget is 256 MiB")) << res.error;
  EXPECT_TRUE(contains(res.error, "downsample")) << res.error;
  EXPECT_EQ(res.errorSubject, settingSubject(kSettingMemoryBudget));
  EXPECT_EQ(res.errorFix, fixBy(FixAction::RaiseMemoryBudget));
}

TEST(Cmgm, RunBetweenMinimumAndFullReturnsOutput0WithAWarning) {
  const ModuleDescriptor& d = registry().get("cmgm");
  const Params p = resolveParams("cmgm", d.params, {});
  const Shape s{1, 64, 7, 9};
  RunRequest req;
  req.moduleId = "cmgm";
  req.seed = 2;
  req.device = DeviceChoice::Cpu;
  req.inputs = {at::randn(s), at::randn(s)};
  const RunResult full = run(registry(), req);
  ASSERT_TRUE(full.ok) << full.error;
  ASSERT_EQ(full.outputs.size(), 2u);
  EXPECT_EQ(full.outputNames, (std::vector<std::string>{"output.0", "output.1"}));
  ASSERT_NE(full.findProbe("attention"), nullptr);

  const int64_t rowBytes = cmgmMemory(CmgmOptions(64), s).rowBytes;
  // The budget counts the module's weights beside the forward; the forward gets the rest.
  const int64_t weights = desc::stateBytes(d.state(p, {s, s}));
  req.maxMemoryBytes = weights + attn::budgetForUsable(d.minMemoryBytes(p, {s, s}) + 2 * rowBytes);
  const RunResult chunked = run(registry(), req);
  ASSERT_TRUE(chunked.ok) << chunked.error;
  EXPECT_EQ(full.estimatedBytes, weights + d.memoryBytes(p, {s, s}));
  EXPECT_LE(chunked.estimatedBytes, req.maxMemoryBytes) << "the chunked plan, not the full one";
  EXPECT_GE(chunked.estimatedBytes, d.minMemoryBytes(p, {s, s}));
  EXPECT_EQ(chunked.outputNames, (std::vector<std::string>{"output.0"}));
  ASSERT_EQ(chunked.outputs.size(), 1u);
  expectClose(chunked.outputs[0], full.outputs[0], "output.0 via run()");
  EXPECT_EQ(chunked.findProbe("attention"), nullptr);
  ASSERT_EQ(chunked.warnings.size(), 1u);
  EXPECT_TRUE(contains(chunked.warnings[0], "21 chunks of 3 query rows")) << chunked.warnings[0];
}

}  // namespace
}  // namespace fl
