// The module registry and descriptors: ids, inputs, probes, checks, factories.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <set>

#include "core/common/error.h"
#include "core/io/state_dict.h"
#include "core/modules/module_instance.h"
#include "core/modules/registry.h"

namespace fl {
namespace {

ModuleRegistry builtins() {
  ModuleRegistry r;
  registerBuiltinModules(r);
  return r;
}

TEST(Registry, FindsModulesAndRejectsUnknownOnes) {
  const ModuleRegistry r = builtins();
  EXPECT_NE(r.find("aff"), nullptr);
  EXPECT_EQ(r.find("nope"), nullptr);
  try {
    r.get("nope");
    FAIL() << "get() accepted an unknown id";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    EXPECT_NE(std::string(e.what()).find("known: ms-cam, aff"), std::string::npos) << e.what();
  }
}

TEST(Registry, DuplicateIdIsRefused) {
  ModuleRegistry r = builtins();
  EXPECT_THROW(r.add(*r.find("eca")), Error);
}

// The ids, inputs, outputs, probes and parameters (a contract: the CLI, sessions and other tools
// persist them) are checked against the reference's module table by the ctest
// reference_registry_matches (tests/reference/check_registry.py), the one place that states them.

TEST(Registry, EveryDescriptorIsComplete) {
  const ModuleRegistry r = builtins();
  for (const auto& d : r.all()) {
    SCOPED_TRACE(d.id);
    EXPECT_FALSE(d.displayName.empty());
    EXPECT_FALSE(d.summary.empty());
    EXPECT_NE(d.citation.find("20"), std::string::npos) << "citation lacks a year";
    EXPECT_TRUE(d.check && d.memoryBytes && d.make);
    for (const auto& p : d.params) {
      EXPECT_FALSE(p.help.empty()) << p.name;
      EXPECT_NO_THROW(parseParam(p, p.defaultValue)) << p.name;
    }
    for (const auto& p : d.probes) EXPECT_FALSE(p.shape.empty()) << p.name;
  }
}

TEST(Registry, ChecksRejectWrongInputCountRankAndMismatch) {
  const ModuleRegistry r = builtins();
  const ModuleDescriptor& aff = r.get("aff");
  const Params p = resolveParams("aff", aff.params, {});
  EXPECT_EQ(aff.check(p, {{1, 8, 5, 5}, {1, 8, 5, 5}}).message(), "");
  EXPECT_NE(aff.check(p, {{1, 8, 5, 5}}).message().find("takes 2 input(s) (x, residual)"), std::string::npos);
  EXPECT_NE(aff.check(p, {{8, 5, 5}, {8, 5, 5}}).message().find("expected 4 dimensions"), std::string::npos);
  EXPECT_NE(aff.check(p, {{1, 8, 5, 5}, {1, 8, 5, 6}}).message().find("same shape"), std::string::npos);
  EXPECT_EQ(aff.check(p, {{1, 3, 5, 5}, {1, 3, 5, 5}}).fix(), setParameter("r", "3"));
}

// Parameter counts at C=64 (modules.md §11, dumped from the seed classes).
int64_t paramCount(const ModuleRegistry& r, const std::string& id,
                   const std::map<std::string, std::string>& overrides, const Shape& shape) {
  const ModuleDescriptor& d = r.get(id);
  const Params p = resolveParams(id, d.params, overrides);
  const std::vector<Shape> shapes(d.inputs.size(), shape);
  EXPECT_EQ(d.check(p, shapes).message(), "");
  auto inst = d.make(p, shapes);
  int64_t n = 0;
  for (const auto& t : inst->module->parameters()) n += t.numel();
  return n;
}

TEST(Registry, ParameterCountsMatchTheSeedClasses) {
  const ModuleRegistry r = builtins();
  const Shape c64{1, 64, 8, 8};
  EXPECT_EQ(paramCount(r, "ms-cam", {}, c64), 4576);
  EXPECT_EQ(paramCount(r, "aff", {}, c64), 4576);
  EXPECT_EQ(paramCount(r, "iaff", {}, c64), 9152);
  EXPECT_EQ(paramCount(r, "eca", {}, c64), 8);
  EXPECT_EQ(paramCount(r, "spatial-attention", {}, c64), 99);
}

TEST(Registry, StateDictKeysFollowTheSeedNumbering) {
  const ModuleRegistry r = builtins();
  const ModuleDescriptor& d = r.get("aff");
  auto inst = d.make(resolveParams("aff", d.params, {}), {{1, 64, 4, 4}, {1, 64, 4, 4}});
  std::map<std::string, std::vector<int64_t>> keys;
  for (const auto& [k, v] : moduleStateDict(*inst->module)) keys[k] = v.sizes().vec();
  EXPECT_EQ(keys.size(), 28u);
  EXPECT_EQ(keys.at("local_att.0.weight"), (std::vector<int64_t>{16, 64, 1, 1}));
  EXPECT_EQ(keys.at("local_att.4.running_var"), (std::vector<int64_t>{64}));
  EXPECT_EQ(keys.at("global_att.1.weight"), (std::vector<int64_t>{16, 64, 1, 1}));
  EXPECT_EQ(keys.at("global_att.5.num_batches_tracked"), (std::vector<int64_t>{}));
  EXPECT_EQ(keys.count("global_att.0.weight"), 0u) << "index 0 is the pooling placeholder";
}

}  // namespace
}  // namespace fl
