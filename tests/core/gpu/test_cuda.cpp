// The CUDA path (ctest label `gpu`): skipped where LibTorch has no usable CUDA device.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/modules/registry.h"
#include "core/run/run.h"

namespace fl {
namespace {

class Cuda : public ::testing::TestWithParam<std::string> {};

TEST_P(Cuda, MatchesCpuOutputsAndProbes) {
  if (!cudaAvailable()) GTEST_SKIP() << "no CUDA device (or a CPU-only LibTorch)";
  ModuleRegistry registry;
  registerBuiltinModules(registry);
  const ModuleDescriptor* d = registry.find(GetParam());
  ASSERT_NE(d, nullptr);
  RunRequest cpu;
  cpu.moduleId = d->id;
  cpu.seed = 5;
  cpu.device = DeviceChoice::Cpu;
  torch::manual_seed(1);
  for (size_t i = 0; i < d->inputs.size(); ++i) cpu.inputs.push_back(at::randn({2, 64, 9, 11}));
  RunRequest gpu = cpu;
  gpu.device = DeviceChoice::Cuda;
  const RunResult rc = run(registry, cpu), rg = run(registry, gpu);
  ASSERT_TRUE(rc.ok) << rc.error;
  ASSERT_TRUE(rg.ok) << rg.error;
  EXPECT_EQ(rg.device, "cuda:0");
  ASSERT_EQ(rc.outputs.size(), rg.outputs.size());
  for (size_t i = 0; i < rc.outputs.size(); ++i) {
    EXPECT_TRUE(rg.outputs[i].device().is_cpu());
    EXPECT_TRUE(at::allclose(rc.outputs[i], rg.outputs[i], 1e-4, 1e-4)) << d->outputs[i];
  }
  ASSERT_EQ(rc.probes.size(), rg.probes.size());
  for (size_t i = 0; i < rc.probes.size(); ++i) {
    EXPECT_TRUE(at::allclose(rc.probes[i].value, rg.probes[i].value, 1e-4, 1e-4)) << rc.probes[i].name;
  }
}

std::vector<std::string> ids() {
  ModuleRegistry registry;
  registerBuiltinModules(registry);
  std::vector<std::string> out;
  for (const auto& d : registry.all()) out.push_back(d.id);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Modules, Cuda, ::testing::ValuesIn(ids()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string n = info.param;
                           for (auto& ch : n) ch = ch == '-' ? '_' : ch;
                           return n;
                         });

}  // namespace
}  // namespace fl
