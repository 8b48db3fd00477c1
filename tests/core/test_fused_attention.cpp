// The fused attention, output selection, time estimates, progress and
// cancellation of long runs.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/torch.h>

#include <atomic>
#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "core/common/error.h"
#include "core/modules/attention_rows.h"
#include "core/modules/cmgm.h"
#include "core/modules/fused_attention.h"
#include "core/modules/module_instance.h"
#include "core/modules/osra.h"
#include "core/modules/probe.h"
#include "core/modules/progress.h"
#include "core/run/estimate.h"
#include "core/run/estimate_policy.h"
#include "core/run/run.h"
#include "tensor_checks.h"
#include "test_registry.h"

namespace fl {
namespace {

using test::registry;

using test::contains;
using test::expectClose;
using test::randomize;

// ---- the kernel against softmax(q k^T s + bias) v ---------------------------------------------

struct KernelCase {
  int64_t b, h, n, nk, d;
  double scale;
  bool bias;
};

TEST(FusedAttention, EqualsTheMaterialisedAttention) {
  torch::NoGradGuard noGrad;
  // Query counts that are not multiples of the query block, key counts over several key blocks
  // (and not multiples of them), head sizes 1 to 40, a large scale (logits of tens: the online
  // softmax must rescale its running sums), a broadcast bias.
  const std::vector<KernelCase> cases = {
      {1, 1, 1, 1, 1, 1.0, false},       {2, 3, 63, 12, 8, 0.35, false},
      {1, 2, 130, 1100, 8, 0.35, true},  {1, 1, 65, 513, 40, 4.0, false},
      {2, 1, 200, 1025, 3, 1.0, true},   {1, 4, 64, 512, 16, 0.25, false}};
  for (const auto& c : cases) {
    SCOPED_TRACE("B " + std::to_string(c.b) + " h " + std::to_string(c.h) + " N " +
                 std::to_string(c.n) + " Nk " + std::to_string(c.nk) + " d " +
                 std::to_string(c.d));
    torch::manual_seed(c.n + c.nk);
    const auto q = at::randn({c.b, c.h, c.n, c.d}), k = at::randn({c.b, c.h, c.nk, c.d});
    const auto v = at::randn({c.b, c.h, c.nk, c.d});
    const auto bias = c.bias ? at::randn({1, c.h, c.n, c.nk}) : at::Tensor();
    auto logits = at::matmul(q, k.transpose(-2, -1)) * c.scale;
    if (c.bias) logits = logits + bias;
    const auto want = at::matmul(at::softmax(logits, -1), v);
    at::Tensor lse;
    const auto got = attn::fusedAttention(q, k, v, c.scale, bias, &lse);
    expectClose(got, want, "fused output");
    expectClose(lse, at::logsumexp(logits, {-1}), "row logsumexp");
    // strided (non-contiguous) inputs, as the modules pass them
    const auto qT = q.transpose(-2, -1).contiguous().transpose(-2, -1);
    expectClose(attn::fusedAttention(qT, k, v, c.scale, bias), want, "strided q");
  }
}

TEST(FusedAttention, ReportsProgressAndStopsWhenCancelled) {
  torch::NoGradGuard noGrad;
  // 8 heads x 125 query blocks: several bands at any thread count up to 125
  const auto q = at::randn({1, 8, 8000, 8}), k = at::randn({1, 8, 300, 8});
  std::vector<progress::Update> seen;
  std::atomic<bool> cancel{false};
  {
    progress::Scope scope([&](const progress::Update& u) { seen.push_back(u); }, &cancel);
    attn::fusedAttention(q, k, k, 0.3, at::Tensor());
  }
  ASSERT_GE(seen.size(), 2u) << "1000 query blocks come in several bands";
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_GT(seen[i].done, seen[i - 1].done);
  EXPECT_EQ(seen.back().done, seen.back().total);
  EXPECT_EQ(seen.back().phase, "attention");
  EXPECT_DOUBLE_EQ(seen.back().fraction, 1.0);

  // Cancel from the callback after the first band: the next band boundary throws Cancelled.
  int calls = 0;
  progress::Scope scope(
      [&](const progress::Update&) {
        ++calls;
        cancel.store(true);
      },
      &cancel);
  try {
    attn::fusedAttention(q, k, k, 0.3, at::Tensor());
    FAIL() << "a cancelled attention must not finish";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Cancelled);
  }
  EXPECT_EQ(calls, 1);
}

// ---- osra and cmgm: outputs without the matrix ------------------------------------------------

TEST(FusedAttention, OsraOutputsOnlyEqualTheMaterialisedOutputs) {
  for (const bool rpe : {false, true}) {
    SCOPED_TRACE(rpe ? "with relative position encoding" : "plain");
    OsraOptions opts = OsraOptions(16).num_heads(4).sr_ratio(2);
    if (rpe) opts.pos_enc_height(6).pos_enc_width(6);  // resized bicubically to 23 x 29
    Osra m(opts);
    randomize(*m, 3);
    torch::NoGradGuard noGrad;
    const auto x = at::randn({2, 16, 23, 29});  // N = 667, Nk = 180
    at::Tensor materialised;
    {
      probe::Scope scope;  // the probe is wanted: the reference computation, matrix and all
      materialised = m->forward(x);
      ASSERT_EQ(scope.records().count("attention"), 1u);
    }
    expectClose(m->forward(x), materialised, "osra without a probe scope (fused)");
    m->selection.all = false;
    m->selection.names = {"output"};
    probe::Scope scope;
    expectClose(m->forward(x), materialised, "osra with the probe left out (fused)");
    EXPECT_EQ(scope.records().count("attention"), 0u);
    EXPECT_TRUE(m->warnings().empty());
  }
}

TEST(FusedAttention, CmgmComputesCamAndTheProbeOnlyWhenAsked) {
  Cmgm m(CmgmOptions(64));
  randomize(*m, 5);
  torch::NoGradGuard noGrad;
  const auto x = at::randn({1, 64, 13, 11}), y = at::randn({1, 64, 13, 11});  // N = 143
  at::Tensor out, cam, attention;
  {
    probe::Scope scope;
    std::tie(out, cam) = m->forward(x, y);
    attention = scope.records().at("attention");
  }
  m->selection.all = false;
  m->selection.names = {"output.0"};
  {
    probe::Scope scope;
    const auto [o, c] = m->forward(x, y);
    expectClose(o, out, "output.0 alone (fused)");
    EXPECT_FALSE(c.defined()) << "cam was not asked for";
    EXPECT_EQ(scope.records().count("attention"), 0u);
    EXPECT_TRUE(m->warnings().empty()) << m->warnings().front();
  }
  m->selection.names = {"output.0", "output.1"};
  {
    const auto [o, c] = m->forward(x, y);
    expectClose(o, out, "output.0 with cam");
    expectClose(c, cam, "cam");
  }
  m->selection.names = {"output.0", "attention"};
  {
    probe::Scope scope;
    const auto [o, c] = m->forward(x, y);
    expectClose(o, out, "output.0 with the probe");
    EXPECT_FALSE(c.defined());
    expectClose(scope.records().at("attention"), attention, "attention probe");
  }
  // cam in row bands from the fused pass's logsumexp, under a budget that holds only cam
  const CmgmMemory mem = cmgmMemory(m->options, x.sizes().vec());
  const int64_t budget = attn::budgetForUsable(
      std::max(mem.fusedBytes(), mem.fixedBytes + mem.attentionBytes() + 9 * mem.camRowBytes));
  ASSERT_LT(budget, mem.fullBytes());
  const CmgmPlan plan = cmgmPlan(mem, budget, false, true);
  ASSERT_FALSE(plan.direct);
  ASSERT_TRUE(plan.fused);
  ASSERT_TRUE(plan.cam);
  m->options.memory_budget(budget);
  m->selection.names = {"output.0", "output.1"};
  const auto [o, c] = m->forward(x, y);
  expectClose(o, out, "output.0, fused, budgeted");
  expectClose(c, cam, "cam from bands after the fused pass");
  ASSERT_EQ(m->warnings().size(), 1u);
  EXPECT_TRUE(contains(m->warnings()[0], "fused attention")) << m->warnings()[0];
}

TEST(FusedAttention, MemoryEstimateIsLinearInPixelsWithoutTheMatrix) {
  const ModuleDescriptor& d = registry().get("cmgm");
  const Params p = resolveParams("cmgm", d.params, {});
  OutputSelection out0;
  out0.all = false;
  out0.names = {"output.0"};
  const auto planned = [&](int64_t side, const OutputSelection& sel) {
    const Shape s{1, 64, side, side};
    return d.plannedMemoryBytes(p, {s, s}, 0, sel);
  };
  // 4x the pixels: O(HW) grows about 4x (fixed per-thread tiles aside), the matrix 16x
  const double lean = static_cast<double>(planned(128, out0)) / planned(64, out0);
  const double full = static_cast<double>(planned(128, {})) / planned(64, {});
  EXPECT_LT(lean, 4.5);
  EXPECT_GT(full, 12.0);
  const Shape s{1, 64, 128, 128};
  const CmgmMemory mem = cmgmMemory(CmgmOptions(64), s);
  EXPECT_LT(planned(128, out0), mem.attentionBytes() / 10) << "no [N,N] tensor";

  const ModuleDescriptor& o = registry().get("osra");
  const Params po = resolveParams("osra", o.params, {});
  OutputSelection osraOut;
  osraOut.all = false;
  osraOut.names = {"output"};
  const Shape big{1, 64, 256, 256};
  EXPECT_LT(o.plannedMemoryBytes(po, {big}, 0, osraOut), o.memoryBytes(po, {big}) / 10);
}

// ---- run(): selection, time estimates and limits, cancellation --------------------------------

RunRequest cmgmRequest(int64_t side) {
  RunRequest req;
  req.moduleId = "cmgm";
  req.device = DeviceChoice::Cpu;
  req.seed = 1;
  const Shape s{1, 64, side, side};
  req.inputs = {at::randn(s), at::randn(s)};
  return req;
}

TEST(FusedAttention, RunReturnsOnlyTheSelectedOutputs) {
  RunRequest req = cmgmRequest(9);
  const RunResult all = run(registry(), req);
  ASSERT_TRUE(all.ok) << all.error;
  req.outputs = {"output.0"};
  const RunResult lean = run(registry(), req);
  ASSERT_TRUE(lean.ok) << lean.error;
  EXPECT_EQ(lean.outputNames, (std::vector<std::string>{"output.0"}));
  EXPECT_TRUE(lean.probes.empty());
  EXPECT_LT(lean.estimatedBytes, all.estimatedBytes);
  expectClose(lean.outputs.at(0), all.outputs.at(0), "output.0 alone via run()");
  req.outputs = {"output.1", "probe.attention"};
  const RunResult camOnly = run(registry(), req);
  ASSERT_TRUE(camOnly.ok) << camOnly.error;
  EXPECT_EQ(camOnly.outputNames, (std::vector<std::string>{"output.1"}));
  ASSERT_NE(camOnly.findProbe("attention"), nullptr);
  expectClose(camOnly.outputs.at(0), all.outputs.at(1), "cam via run()");

  req.outputs = {"output.2"};
  const RunResult bad = run(registry(), req);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.errorKind, ErrorKind::Usage);
  EXPECT_TRUE(contains(bad.error, "'output.2'")) << bad.error;
  EXPECT_TRUE(contains(bad.error, "output.0, output.1")) << bad.error;
  EXPECT_TRUE(contains(bad.error, "probe.attention")) << bad.error;
}

TEST(FusedAttention, TimeEstimateGrowsWithTheWorkAndRefusesOverTheLimit) {
  const ModuleDescriptor& d = registry().get("cmgm");
  const Params p = resolveParams("cmgm", d.params, {});
  const OutputSelection all;
  const Shape s32{1, 64, 32, 32}, s64{1, 64, 64, 64};
  const WorkEstimate w32 = estimateWork(d, p, {s32, s32}, all);
  const WorkEstimate w64 = estimateWork(d, p, {s64, s64}, all);
  EXPECT_DOUBLE_EQ(w64.attentionScores, 16 * w32.attentionScores);
  EXPECT_EQ(w32.headDim, 8);
  const double t32 = estimateSeconds(w32), t64 = estimateSeconds(w64);
  EXPECT_GT(t32, 0);
  EXPECT_GT(t64, 8 * t32) << "the (HW)^2 terms dominate";
  const MachineRates& rates = machineRates();
  EXPECT_GT(rates.gemmFlopsPerSecond, 1e8);
  EXPECT_GT(rates.bytesPerSecond, 1e8);

  RunRequest req = cmgmRequest(32);
  std::vector<RunEstimate> estimates;
  req.onEstimate = [&](const RunEstimate& e) { estimates.push_back(e); };
  req.maxSeconds = t32 / 1000;  // surely below the estimate
  const RunResult refused = run(registry(), req);
  ASSERT_FALSE(refused.ok);
  EXPECT_EQ(refused.errorKind, ErrorKind::TimeLimit);
  EXPECT_TRUE(contains(refused.error, "estimated to take about")) << refused.error;
  EXPECT_EQ(refused.errorSubject, settingSubject(kSettingTimeLimit));
  ASSERT_TRUE(refused.errorFix.has_value());
  EXPECT_EQ(refused.errorFix->action, FixAction::RaiseTimeLimit);
  EXPECT_TRUE(contains(refused.error, "GFLOP")) << refused.error;
  EXPECT_TRUE(estimates.empty()) << "refused before the estimate callback and the forward";

  req.maxSeconds = 0;  // no limit
  const RunResult ok = run(registry(), req);
  ASSERT_TRUE(ok.ok) << ok.error;
  ASSERT_EQ(estimates.size(), 1u);
  EXPECT_EQ(estimates[0].moduleId, "cmgm");
  EXPECT_GT(ok.estimatedSeconds, 0);
  EXPECT_EQ(estimates[0].bytes, ok.estimatedBytes);
}

// The desktop app does not measure the machine for runs a slow machine would finish in under
// 2 s (estimate_policy.h; issue 15: cold start): below the threshold the estimate is the
// nominal one; at the default (0.1 s) the same work is measured.
TEST(FusedAttention, RunsUnderTheMeasureThresholdGetTheNominalEstimate) {
  WorkEstimate w;
  w.gemmFlops = 3e8;  // 0.3 s at the nominal 1 GFLOP/s
  w.bytes = 2e8;      // 0.2 s at the nominal 1 GB/s
  ASSERT_DOUBLE_EQ(measureRatesAbove(), 0.1);
  setMeasureRatesAbove(2.0);
  EXPECT_DOUBLE_EQ(measureRatesAbove(), 2.0);
  EXPECT_DOUBLE_EQ(estimateSeconds(w), 0.5);
  setMeasureRatesAbove(0);  // never below the 0.1 s floor
  EXPECT_DOUBLE_EQ(measureRatesAbove(), 0.1);
  const double measured = estimateSeconds(w);
  EXPECT_GT(measured, 0);
  EXPECT_NE(measured, 0.5) << "measured rates are not the nominal ones";
  const MachineRates& r = machineRates();
  EXPECT_DOUBLE_EQ(measured, w.gemmFlops / r.gemmFlopsPerSecond + w.bytes / r.bytesPerSecond);
}

TEST(FusedAttention, RunStopsWhenCancelledAndReturnsNothing) {
  RunRequest req = cmgmRequest(40);  // N = 1600: 8 heads x 25 query blocks, several bands
  req.outputs = {"output.0"};
  std::atomic<bool> cancel{false};
  int updates = 0;
  req.onProgress = [&](const progress::Update&) {
    ++updates;
    cancel.store(true);  // as a Ctrl-C handler would, once progress shows
  };
  req.cancel = &cancel;
  const RunResult res = run(registry(), req);
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.errorKind, ErrorKind::Cancelled);
  EXPECT_TRUE(res.outputs.empty());
  EXPECT_EQ(updates, 1);

  // A flag already set when a forward without pieces finishes: the result is discarded too.
  RunRequest eca;
  eca.moduleId = "eca";
  eca.device = DeviceChoice::Cpu;
  eca.inputs = {at::randn({1, 8, 5, 5})};
  eca.cancel = &cancel;
  const RunResult small = run(registry(), eca);
  EXPECT_FALSE(small.ok);
  EXPECT_EQ(small.errorKind, ErrorKind::Cancelled);
}

}  // namespace
}  // namespace fl
