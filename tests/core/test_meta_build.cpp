// Meta-device builds (issue 17): the key shapes and the weights' size of a module, without
// allocating its parameters; used by inspect --module and by the memory budget of run().
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <sys/resource.h>

#include "core/common/error.h"
#include "core/modules/module_instance.h"
#include "core/modules/params.h"
#include "core/modules/registry.h"
#include "core/run/run.h"

namespace fl {
namespace {

ModuleRegistry builtins() {
  ModuleRegistry r;
  registerBuiltinModules(r);
  return r;
}

std::vector<std::string> keyShapes(const torch::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& p : m.named_parameters()) out.push_back(p.key() + " " + std::string(c10::toString(p.value().scalar_type())) + " " + c10::str(p.value().sizes()));
  for (const auto& b : m.named_buffers()) out.push_back(b.key() + " " + std::string(c10::toString(b.value().scalar_type())) + " " + c10::str(b.value().sizes()));
  return out;
}

TEST(MetaBuild, EveryModuleHasTheSameKeysShapesAndBytesAsARealBuild) {
  const ModuleRegistry r = builtins();
  int built = 0;
  for (const ModuleDescriptor& d : r.all()) {
    const Params p = resolveParams(d.id, d.params, {});
    const std::vector<Shape> shapes(d.inputs.size(), Shape{1, 64, 8, 8});
    ASSERT_EQ(d.check(p, shapes), "") << d.id;
    const auto real = d.make(p, shapes);
    const auto meta = makeMetaModule(d, p, shapes);
    EXPECT_EQ(keyShapes(*meta->module), keyShapes(*real->module)) << d.id;
    EXPECT_EQ(parameterBytes(*meta->module), parameterBytes(*real->module)) << d.id;
    EXPECT_GT(parameterBytes(*real->module), 0) << d.id;
    for (const auto& t : meta->module->parameters()) EXPECT_TRUE(t.is_meta()) << d.id;
    // The guard ends with the build: tensors made afterwards are real again.
    EXPECT_FALSE(at::zeros({2}).is_meta());
    ++built;
  }
  EXPECT_GE(built, 10);
}

int64_t peakRss() {
  struct rusage u {};
  getrusage(RUSAGE_SELF, &u);
  return int64_t(u.ru_maxrss) * 1024;
}

TEST(MetaBuild, AHugeModuleCostsNoMemory) {
  // AFF at 24000 channels holds 2.3 GB of parameters; on the meta device they cost nothing.
  const ModuleRegistry r = builtins();
  const ModuleDescriptor& d = r.get("aff");
  const Params p = resolveParams("aff", d.params, {});
  const std::vector<Shape> shapes(2, Shape{1, 24000, 2, 2});
  const int64_t before = peakRss();
  const auto meta = makeMetaModule(d, p, shapes);
  EXPECT_GT(parameterBytes(*meta->module), int64_t{2} << 30);
  EXPECT_LT(peakRss() - before, int64_t{64} << 20);
}

TEST(MemoryBudget, CountsTheModulesWeights) {
  // Before: only inputs and activations were counted, so this ran (2.9 GB peak) under 1 GiB.
  const ModuleRegistry r = builtins();
  RunRequest req;
  req.moduleId = "aff";
  req.inputs = {at::zeros({1, 24000, 2, 2}), at::zeros({1, 24000, 2, 2})};
  req.maxMemoryBytes = int64_t{1} << 30;
  const RunResult res = run(r, req);
  ASSERT_FALSE(res.ok);
  EXPECT_EQ(res.errorKind, ErrorKind::Memory);
  EXPECT_NE(res.error.find("for the module's weights"), std::string::npos) << res.error;
  EXPECT_NE(res.error.find("1.00 GiB"), std::string::npos) << res.error;
}

}  // namespace
}  // namespace fl
