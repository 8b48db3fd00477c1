// Typed module parameters: parsing, ranges, defaults, unknown names.
#include <gtest/gtest.h>

#include "core/common/error.h"
#include "core/modules/descriptor_util.h"
#include "core/modules/params.h"

namespace fl {
namespace {

std::vector<ParamSpec> specs() {
  return {desc::intParam("r", 4, 1, 64, "reduction"),
          desc::floatParam("scale", 1.0, 0.0, 10.0, "factor"),
          desc::boolParam("flag", false, "a switch"),
          desc::choiceParam("variant", {"seed", "official"}, "which code"),
          desc::intListParam("rates", "2,4,8", 1, 32, "dilations")};
}

TEST(Params, DefaultsAreResolvedAndTyped) {
  const Params p = resolveParams("m", specs(), {});
  EXPECT_EQ(p.getInt("r"), 4);
  EXPECT_DOUBLE_EQ(p.getFloat("scale"), 1.0);
  EXPECT_FALSE(p.getBool("flag"));
  EXPECT_EQ(p.getChoice("variant"), "seed");
  EXPECT_EQ(p.getIntList("rates"), (std::vector<int64_t>{2, 4, 8}));
  EXPECT_EQ(p.text("rates"), "2,4,8");
}

TEST(Params, OverridesAreParsed) {
  const Params p = resolveParams(
      "m", specs(),
      {{"r", "8"}, {"scale", "2.5"}, {"flag", "true"}, {"variant", "official"}, {"rates", "1,3"}});
  EXPECT_EQ(p.getInt("r"), 8);
  EXPECT_DOUBLE_EQ(p.getFloat("scale"), 2.5);
  EXPECT_TRUE(p.getBool("flag"));
  EXPECT_EQ(p.getChoice("variant"), "official");
  EXPECT_EQ(p.getIntList("rates"), (std::vector<int64_t>{1, 3}));
}

std::string errorOf(const std::map<std::string, std::string>& overrides) {
  try {
    resolveParams("m", specs(), overrides);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::Usage);
    return e.what();
  }
  return "";
}

TEST(Params, BadValuesAreClearErrors) {
  EXPECT_NE(errorOf({{"r", "0"}}).find("out of range [1, 64]"), std::string::npos);
  EXPECT_NE(errorOf({{"r", "four"}}).find("not an integer"), std::string::npos);
  EXPECT_NE(errorOf({{"r", "4x"}}).find("not an integer"), std::string::npos);
  EXPECT_NE(errorOf({{"scale", "nan"}}).find("finite"), std::string::npos);
  EXPECT_NE(errorOf({{"flag", "maybe"}}).find("boolean"), std::string::npos);
  EXPECT_NE(errorOf({{"variant", "x"}}).find("seed|official"), std::string::npos);
  EXPECT_NE(errorOf({{"rates", "2,,8"}}).find("list of integers"), std::string::npos);
  const std::string unknown = errorOf({{"k", "3"}});
  EXPECT_NE(unknown.find("no parameter 'k'"), std::string::npos);
  EXPECT_NE(unknown.find("known: r, scale, flag, variant, rates"), std::string::npos);
}

}  // namespace
}  // namespace fl
