// Each descriptor's `state` list (its state_dict known without building the module, used by
// `inspect --module` and the memory budget) against the module actually built: for every
// registered module at several parameter sets and input shapes, the same names, shapes, order,
// parameter/buffer split and dtypes. A module whose layers change without its list fails here.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/io/state_dict.h"
#include "core/modules/descriptor_util.h"
#include "core/modules/module_instance.h"
#include "core/modules/registry.h"
#include "test_registry.h"

namespace fl {
namespace {

using Overrides = std::map<std::string, std::string>;

/// Parameter sets to try: the defaults, each choice, each bool flipped, each int at 2 and at
/// its default + 1 (within range), and a few combinations single changes do not reach.
std::vector<Overrides> parameterSets(const ModuleDescriptor& d) {
  std::vector<Overrides> sets = {{}};
  for (const ParamSpec& p : d.params) {
    switch (p.type) {
      case ParamType::Choice:
        for (const auto& c : p.choices) sets.push_back({{p.name, c}});
        break;
      case ParamType::Bool:
        sets.push_back({{p.name, p.defaultValue == "true" ? "false" : "true"}});
        break;
      case ParamType::Int: {
        const int64_t def = std::stoll(p.defaultValue);
        for (const int64_t v : {int64_t{2}, def + 1, def + 2})
          if (v >= p.min && v <= p.max && v != def) sets.push_back({{p.name, std::to_string(v)}});
        break;
      }
      default:
        break;
    }
  }
  static const std::map<std::string, std::vector<Overrides>> extra = {
      {"osra",
       {{{"relative_pos_enc", "true"}},
        {{"relative_pos_enc", "true"}, {"pos_enc_grid", "6,5"}, {"sr_ratio", "3"}},
        {{"relative_pos_enc", "true"}, {"variant", "transxnet"}, {"sr_ratio", "1"}},
        {{"variant", "transxnet"}, {"sr_ratio", "4"}}}},
      {"mfe", {{{"atrous_rates", "1,3,5"}, {"se_variant", "shisrcnet"}}}},
      {"eca", {{{"adaptive_kernel", "true"}, {"padding", "same"}}, {{"kernel_size", "5"}, {"padding", "same"}, {"variant", "official"}}}},
      {"spatial-attention", {{{"kernel_size", "3"}, {"padding", "same"}}}},
      {"cmgm", {{{"mode", "generalized"}, {"num_heads", "4"}, {"qkv_bias", "false"}}}},
      {"iaff", {{{"use_global_att2", "true"}, {"r", "8"}}}},
      {"cafm", {{{"hidden", "7"}}}},
  };
  if (const auto it = extra.find(d.id); it != extra.end()) sets.insert(sets.end(), it->second.begin(), it->second.end());
  return sets;
}

std::string describe(const std::string& id, const Overrides& o, const Shape& s) {
  std::string text = id + " " + shapeText(s);
  for (const auto& [k, v] : o) text += " " + k + "=" + v;
  return text;
}

TEST(ModuleState, EveryDescriptorListsTheBuiltModulesStateDict) {
  const std::vector<Shape> shapes = {{1, 16, 8, 8}, {2, 24, 6, 10}, {1, 64, 12, 12}, {1, 8, 5, 7}};
  int modules = 0;
  for (const ModuleDescriptor& d : test::registry().all()) {
    ASSERT_TRUE(d.state) << d.id << " has no state list";
    int compared = 0;
    for (const Overrides& o : parameterSets(d)) {
      const Params p = resolveParams(d.id, d.params, o);
      for (const Shape& s : shapes) {
        const std::vector<Shape> in(d.inputs.size(), s);
        if (!d.check(p, in).empty()) continue;  // a combination the module refuses
        const std::string what = describe(d.id, o, s);
        const std::vector<StateTensor> listed = d.state(p, in);
        const auto inst = makeSeededModule(d, p, in, 0);
        const NamedTensors built = moduleStateDict(*inst->module);
        std::set<std::string> paramNames;
        for (const auto& item : inst->module->named_parameters(/*recurse=*/true)) paramNames.insert(item.key());
        ASSERT_EQ(listed.size(), built.size()) << what;
        for (size_t i = 0; i < built.size(); ++i) {
          const auto& [name, t] = built[i];
          EXPECT_EQ(listed[i].name, name) << what << " entry " << i;
          EXPECT_EQ(listed[i].shape, t.sizes().vec()) << what << " " << name;
          EXPECT_EQ(listed[i].buffer, paramNames.count(name) == 0) << what << " " << name;
          EXPECT_EQ(listed[i].integer, t.scalar_type() == at::kLong) << what << " " << name;
          EXPECT_TRUE(t.scalar_type() == at::kLong || t.scalar_type() == at::kFloat) << what << " " << name;
        }
        EXPECT_EQ(desc::stateBytes(listed), [&] {
          int64_t b = 0;
          for (const auto& [name, t] : built) b += t.numel() * static_cast<int64_t>(t.element_size());
          return b;
        }()) << what;
        ++compared;
      }
    }
    EXPECT_GE(compared, 4) << d.id << ": too few parameter sets and shapes were accepted to compare";
    ++modules;
  }
  EXPECT_EQ(modules, static_cast<int>(test::registry().all().size()));
  EXPECT_GE(modules, 15);
}

TEST(ModuleState, WeightBytesAreKnownWithoutBuilding) {
  // aff at C = 24000: four 1x1 convs of 24000 x 6000 (2.3 GB = 2197 MiB) counted, nothing allocated.
  const ModuleDescriptor& d = *test::registry().find("aff");
  const Params p = resolveParams(d.id, d.params, {});
  const std::vector<Shape> in(2, Shape{1, 24000, 2, 2});
  const int64_t bytes = desc::stateBytes(d.state(p, in));
  EXPECT_GT(bytes, int64_t{2190} << 20);
  EXPECT_LT(bytes, int64_t{2200} << 20);
}

TEST(ModuleState, TheRegistryRefusesADescriptorWithoutAStateList) {
  ModuleDescriptor d = *test::registry().find("eca");
  d.id = "eca-copy";
  d.state = nullptr;
  ModuleRegistry r;
  try {
    r.add(d);
    FAIL() << "a descriptor without state was registered";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
    EXPECT_NE(std::string(e.what()).find("eca-copy has no state list"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fl
