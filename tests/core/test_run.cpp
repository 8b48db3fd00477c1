// core::run: results instead of exceptions, seeded init, eval mode, budgets, weights.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include <torch/nn/modules/linear.h>

#include "test_registry.h"
#include "core/io/state_dict.h"
#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/registry.h"
#include "core/common/memory.h"
#include "core/run/run.h"

namespace fl {
namespace {

using test::registry;

RunRequest affRequest(int64_t b = 1) {
  RunRequest req;
  req.moduleId = "aff";
  req.device = DeviceChoice::Cpu;
  req.inputs = {at::randn({b, 8, 5, 7}), at::randn({b, 8, 5, 7})};
  return req;
}

TEST(Run, ReturnsOutputsAndProbesInDescriptorOrder) {
  RunRequest req = affRequest();
  req.requestId = 42;
  const RunResult res = run(registry(), req);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.requestId, 42u);
  EXPECT_EQ(res.device, "cpu");
  ASSERT_EQ(res.outputs.size(), 1u);
  EXPECT_EQ(res.outputs[0].sizes().vec(), (std::vector<int64_t>{1, 8, 5, 7}));
  ASSERT_EQ(res.probes.size(), 1u);
  EXPECT_EQ(res.probes[0].name, "weight");
  EXPECT_EQ(res.probes[0].kind, ProbeKind::Gate);
  // out = x*w + r*(1-w) with the recorded gate
  const auto& w = res.probes[0].value;
  EXPECT_TRUE(at::allclose(res.outputs[0], req.inputs[0] * w + req.inputs[1] * (1 - w), 1e-5, 1e-6));
}

// The NaN/Inf check on the inputs scans contiguous float tensors directly (issue 15): any NaN
// or Inf anywhere, in either input, contiguous or not, is reported; finite inputs are not.
TEST(Run, WarnsOfNaNOrInfAnywhereInTheInputs) {
  const auto warned = [](const RunResult& r) {
    for (const auto& w : r.warnings) {
      if (w.find("NaN or Inf") != std::string::npos) return true;
    }
    return false;
  };
  const RunResult clean = run(registry(), affRequest());
  ASSERT_TRUE(clean.ok) << clean.error;
  EXPECT_FALSE(warned(clean));
  const float specials[] = {std::nanf(""), INFINITY, -INFINITY};
  for (const float bad : specials) {
    for (const int64_t at : {int64_t{0}, int64_t{100}, int64_t{8 * 5 * 7 - 1}}) {
      for (const int input : {0, 1}) {
        RunRequest req = affRequest();
        req.inputs[input] = req.inputs[input].clone();
        req.inputs[input].view({-1})[at] = bad;
        EXPECT_TRUE(warned(run(registry(), req))) << bad << " at " << at << " in input " << input;
      }
    }
    RunRequest strided = affRequest();  // a non-contiguous view: the tensor path
    at::Tensor wide = at::zeros({1, 8, 5, 14});
    wide.slice(3, 0, 14, 2).copy_(strided.inputs[0]);
    wide[0][3][4][12] = bad;
    strided.inputs[0] = wide.slice(3, 0, 14, 2);
    ASSERT_FALSE(strided.inputs[0].is_contiguous());
    EXPECT_TRUE(warned(run(registry(), strided))) << bad << " in a strided input";
  }
}

// run() detaches what it returns, so the outputs cannot tell whether the forward itself ran
// with autograd off (it must: a graph over the attention matrix doubles the memory). A toy
// module records the grad mode it sees inside its forward.
TEST(Run, ForwardRunsWithoutAutograd) {
  struct Seen {
    bool called = false;
    bool gradEnabled = true;
    bool outputRequiresGrad = true;
  };
  auto seen = std::make_shared<Seen>();
  ModuleDescriptor d;
  d.id = "grad-probe";
  d.inputs = {{"x", "any tensor"}};
  d.outputs = {"output"};
  d.check = [](const Params&, const std::vector<Shape>&) { return std::string(); };
  d.memoryBytes = [](const Params&, const std::vector<Shape>&) -> int64_t { return 1024; };
  d.state = [](const Params&, const std::vector<Shape>&) { return desc::StateList().linear("", 7, 7).list(); };
  d.make = [seen](const Params&, const std::vector<Shape>&) {
    auto inst = std::make_shared<ModuleInstance>();
    auto linear = std::make_shared<torch::nn::LinearImpl>(7, 7);
    inst->module = linear;
    inst->forward = [seen, linear](const std::vector<at::Tensor>& in) {
      seen->called = true;
      seen->gradEnabled = at::GradMode::is_enabled();
      at::Tensor y = linear->forward(in[0]);  // weight requires grad: y would too under autograd
      seen->outputRequiresGrad = y.requires_grad();
      return std::vector<at::Tensor>{y};
    };
    return inst;
  };
  ModuleRegistry reg;
  reg.add(d);
  RunRequest req;
  req.moduleId = "grad-probe";
  req.device = DeviceChoice::Cpu;
  req.inputs = {at::randn({1, 1, 3, 7})};
  ASSERT_TRUE(at::GradMode::is_enabled());  // the caller's mode; run() must not rely on it
  const RunResult res = run(reg, req);
  ASSERT_TRUE(res.ok) << res.error;
  ASSERT_TRUE(seen->called);
  EXPECT_FALSE(seen->gradEnabled);
  EXPECT_FALSE(seen->outputRequiresGrad);
  EXPECT_TRUE(at::GradMode::is_enabled());  // restored after the run
}

TEST(Run, SeededInitIsDeterministicAndSeedMatters) {
  RunRequest a = affRequest(), b = a, c = a;
  a.seed = b.seed = 7;
  c.seed = 8;
  const auto ra = run(registry(), a), rb = run(registry(), b), rc = run(registry(), c);
  ASSERT_TRUE(ra.ok && rb.ok && rc.ok);
  EXPECT_TRUE(at::equal(ra.outputs[0], rb.outputs[0]));
  EXPECT_FALSE(at::equal(ra.outputs[0], rc.outputs[0]));
}

TEST(Run, RunsInEvalModeWithB1) {
  // BatchNorm on the 1x1 global branch fails in train mode at B=1; eval uses running stats.
  const RunResult res = run(registry(), affRequest(1));
  EXPECT_TRUE(res.ok) << res.error;
}

TEST(Run, ErrorsAreResultsNotExceptions) {
  RunRequest req = affRequest();
  req.inputs.pop_back();
  RunResult res = run(registry(), req);
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.errorKind, ErrorKind::Input);
  EXPECT_NE(res.error.find("takes 2 input(s)"), std::string::npos) << res.error;

  req = affRequest();
  req.moduleId = "nope";
  res = run(registry(), req);
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.errorKind, ErrorKind::Usage);

  req = affRequest();
  req.params["r"] = "0";
  res = run(registry(), req);
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.error.find("parameter 'r'"), std::string::npos);
}

TEST(Run, MemoryBudgetRefusesBeforeRunning) {
  RunRequest req = affRequest();
  req.maxMemoryBytes = 1024;
  const RunResult res = run(registry(), req);
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.errorKind, ErrorKind::Memory);
  EXPECT_NE(res.error.find("memory budget is 1.00 KiB"), std::string::npos) << res.error;
  EXPECT_EQ(res.errorSubject, settingSubject(kSettingMemoryBudget));
  EXPECT_EQ(res.errorFix, fixBy(FixAction::RaiseMemoryBudget));
}

TEST(Run, LoadsAPreparedStateDictStrictly) {
  // Weights taken from one seeded instance reproduce its outputs in another run.
  RunRequest a = affRequest();
  a.seed = 3;
  const RunResult ra = run(registry(), a);
  const ModuleDescriptor& d = registry().get("aff");
  torch::manual_seed(3);
  auto inst = d.make(resolveParams("aff", d.params, {}), {{1, 8, 5, 7}, {1, 8, 5, 7}});
  RunRequest b = a;
  b.seed = 99;
  b.weights = std::make_shared<NamedTensors>(moduleStateDict(*inst->module));
  const RunResult rb = run(registry(), b);
  ASSERT_TRUE(rb.ok) << rb.error;
  EXPECT_EQ(rb.weights.matched.size(), 28u);
  EXPECT_TRUE(at::equal(ra.outputs[0], rb.outputs[0]));

  auto partial = std::make_shared<NamedTensors>(moduleStateDict(*inst->module));
  partial->pop_back();
  b.weights = partial;
  const RunResult rc = run(registry(), b);
  EXPECT_FALSE(rc.ok);
  EXPECT_EQ(rc.errorKind, ErrorKind::Weights);
  EXPECT_NE(rc.error.find("global_att.5.num_batches_tracked"), std::string::npos) << rc.error;
}

TEST(Run, CudaRequestIsClearWithoutCuda) {
  if (cudaAvailable()) GTEST_SKIP() << "CUDA present: covered by the gpu-labelled tests";
  RunRequest req = affRequest();
  req.device = DeviceChoice::Cuda;
  const RunResult res = run(registry(), req);
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.errorKind, ErrorKind::Device);
  EXPECT_NE(res.error.find("CUDA"), std::string::npos);
}

TEST(Memory, FormatsAndParsesSizes) {
  EXPECT_EQ(formatBytes(17), "17 B");
  EXPECT_EQ(formatBytes(1536), "1.50 KiB");
  EXPECT_EQ(formatBytes(int64_t{300} << 20), "300 MiB");
  EXPECT_EQ(parseBytes("2G"), int64_t{2} << 30);
  EXPECT_EQ(parseBytes("512MiB"), int64_t{512} << 20);
  EXPECT_EQ(parseBytes("100"), 100);
  EXPECT_THROW(parseBytes("lots"), Error);
  EXPECT_THROW(parseBytes("5X"), Error);
  EXPECT_GT(defaultMemoryBudget(), int64_t{255} << 20);
}

// run() may be called from several threads at once (the core promises it; the GUI itself runs
// its jobs on one worker): a seed must still give the same init. Many concurrent builds with
// other seeds around the checked one.
TEST(Run, SeedGivesTheSameInitUnderConcurrentBuilds) {
  RunRequest req = affRequest();
  req.seed = 5;
  const RunResult alone = run(registry(), req);
  ASSERT_TRUE(alone.ok) << alone.error;
  std::vector<std::thread> threads;
  std::vector<at::Tensor> seen(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        RunRequest r = req;
        if (t % 2) r.seed = 100 + t * 10 + i;  // the others draw with their own seeds
        const RunResult res = run(registry(), r);
        if (t % 2 == 0 && res.ok && i == 4) seen[t] = res.outputs[0];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; t += 2) {
    ASSERT_TRUE(seen[t].defined());
    EXPECT_TRUE(at::equal(seen[t], alone.outputs[0])) << "thread " << t;
  }
}

}  // namespace
}  // namespace fl
