// core/analysis: entropy, Gini sparsity, Spearman correlation, top-k% IoU and the CSV table.
// Statistics: hand-computed cases. StatisticsReference: random cases whose expected values
// tests/reference/stats_reference.py computes independently (numpy, other algorithms) at test
// time, compared at 1e-9.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/analysis/statistics.h"
#include "core/common/error.h"
#include "test_env.h"

namespace fl::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kTol = 1e-12;

at::Tensor vec(std::vector<double> values) { return at::tensor(values, at::kDouble); }

/// The kind and message of the fl::Error that f throws; fails the test when it throws none.
template <typename F>
std::pair<ErrorKind, std::string> errorOf(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return {e.kind(), e.what()};
  }
  ADD_FAILURE() << "no fl::Error thrown";
  return {ErrorKind::Internal, ""};
}

// ---- normalizedEntropy -------------------------------------------------------------------

TEST(Statistics, EntropyUniformIsOneAndOneHotIsZero) {
  EXPECT_NEAR(normalizedEntropy(at::full({64}, 0.25, at::kDouble)), 1.0, kTol);
  EXPECT_NEAR(normalizedEntropy(at::ones({3, 7, 9}, at::kFloat)), 1.0, kTol);
  EXPECT_EQ(normalizedEntropy(vec({0, 0, 5, 0})), 0.0);
  EXPECT_EQ(normalizedEntropy(vec({2.5})), 0.0);  // N == 1
}

TEST(Statistics, EntropyByHand) {
  // p = (1/4, 3/4): H = -(1/4 ln 1/4 + 3/4 ln 3/4) / ln 2.
  const double h2 = -(0.25 * std::log(0.25) + 0.75 * std::log(0.75)) / std::log(2.0);
  EXPECT_NEAR(normalizedEntropy(vec({1, 3})), h2, kTol);
  // p = (1/2, 1/2, 0): ln 2 / ln 3, the zero contributes nothing.
  EXPECT_NEAR(normalizedEntropy(vec({4, 4, 0})), std::log(2.0) / std::log(3.0), kTol);
  // Scale and shape do not matter; integer dtypes are accepted; huge values do not overflow.
  EXPECT_NEAR(normalizedEntropy(vec({1e300, 3e300})), h2, kTol);
  EXPECT_NEAR(normalizedEntropy(at::tensor(std::vector<int64_t>{2, 6}).reshape({1, 2, 1})), h2, kTol);
  EXPECT_NEAR(normalizedEntropy(vec({1, 3}).to(at::kFloat)), h2, kTol);
}

TEST(Statistics, EntropyRejectsWhatIsNotADistribution) {
  auto [kind, msg] = errorOf([] { normalizedEntropy(vec({1, -0.5, 2})); });
  EXPECT_EQ(kind, ErrorKind::Input);
  EXPECT_NE(msg.find("negative"), std::string::npos) << msg;
  EXPECT_NE(msg.find("flat index 1"), std::string::npos) << msg;
  std::tie(kind, msg) = errorOf([] { normalizedEntropy(vec({1, kNaN})); });
  EXPECT_EQ(kind, ErrorKind::Input);
  EXPECT_NE(msg.find("nan"), std::string::npos) << msg;
  std::tie(kind, msg) = errorOf([] { normalizedEntropy(vec({kInf, 1})); });
  EXPECT_EQ(kind, ErrorKind::Input);
  EXPECT_NE(msg.find("inf"), std::string::npos) << msg;
  std::tie(kind, msg) = errorOf([] { normalizedEntropy(at::zeros({4, 4})); });
  EXPECT_EQ(kind, ErrorKind::Input);
  EXPECT_NE(msg.find("zero"), std::string::npos) << msg;
  std::tie(kind, msg) = errorOf([] { normalizedEntropy(at::empty({0, 3})); });
  EXPECT_EQ(kind, ErrorKind::Input);
  EXPECT_NE(msg.find("empty"), std::string::npos) << msg;
  EXPECT_EQ(errorOf([] { normalizedEntropy(at::ones({3}, at::kComplexFloat)); }).first,
            ErrorKind::Input);
}

// ---- giniSparsity ------------------------------------------------------------------------

TEST(Statistics, GiniConstantOneHotAndZero) {
  EXPECT_NEAR(giniSparsity(at::full({10}, 0.3, at::kDouble)), 0.0, kTol);
  EXPECT_NEAR(giniSparsity(at::full({2, 5}, -7.0, at::kDouble)), 0.0, kTol);
  for (int64_t n : {1, 2, 5, 100}) {
    at::Tensor v = at::zeros({n}, at::kDouble);
    v[n / 2] = 3.0;
    EXPECT_NEAR(giniSparsity(v), 1.0 - 1.0 / static_cast<double>(n), kTol) << "N = " << n;
  }
  EXPECT_EQ(giniSparsity(at::zeros({3, 3})), 0.0);
}

TEST(Statistics, GiniByHand) {
  // c = (0,1,2,3), ||c||_1 = 6, N = 4: sum c_k (N - k + 1/2) = 2.5 + 3 + 1.5 = 7, so
  // G = 1 - 2 * 7 / (6 * 4) = 5/12; the classic form gives 20 / (2 * 4 * 6) as well.
  EXPECT_NEAR(giniSparsity(vec({3, 0, 2, 1})), 5.0 / 12.0, kTol);
  // |values|: signs do not matter; neither do scale, order or shape.
  EXPECT_NEAR(giniSparsity(vec({-3, 0, 2, -1})), 5.0 / 12.0, kTol);
  EXPECT_NEAR(giniSparsity(vec({0, 1e300, 2e300, 3e300}).reshape({2, 2})), 5.0 / 12.0, kTol);
  // (1, 1, 2): sum = 4, 1*2.5 + 1*1.5 + 2*0.5 = 5, G = 1 - 10 / 12 = 1/6.
  EXPECT_NEAR(giniSparsity(vec({1, 2, 1}).to(at::kFloat)), 1.0 / 6.0, kTol);
}

TEST(Statistics, GiniRejectsNonFiniteAndEmpty) {
  auto [kind, msg] = errorOf([] { giniSparsity(vec({0, 1, kNaN})); });
  EXPECT_EQ(kind, ErrorKind::Input);
  EXPECT_NE(msg.find("flat index 2"), std::string::npos) << msg;
  EXPECT_EQ(errorOf([] { giniSparsity(vec({-kInf, 1})); }).first, ErrorKind::Input);
  EXPECT_EQ(errorOf([] { giniSparsity(at::empty({0})); }).first, ErrorKind::Input);
}

// ---- spearman ----------------------------------------------------------------------------

TEST(Statistics, SpearmanKnownPermutations) {
  const at::Tensor a = vec({1, 2, 3, 4, 5});
  EXPECT_NEAR(spearman(a, a), 1.0, kTol);
  EXPECT_NEAR(spearman(a, vec({50, 40, 30, 20, 10})), -1.0, kTol);
  // One adjacent swap in two places: sum d^2 = 4, rho = 1 - 6 * 4 / (5 * 24) = 0.8.
  EXPECT_NEAR(spearman(a, vec({2, 1, 4, 3, 5})), 0.8, kTol);
  // Invariant under increasing transforms, and shapes only need the same numel.
  EXPECT_NEAR(spearman(a.exp().reshape({5, 1}), vec({0.2, 0.1, 0.4, 0.3, 0.5}).to(at::kFloat)), 0.8,
              kTol);
  // Infinities rank as the extremes.
  EXPECT_NEAR(spearman(vec({-kInf, 0, kInf}), vec({1, 2, 3})), 1.0, kTol);
}

TEST(Statistics, SpearmanAveragesTies) {
  // ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): cov = 4.5, var = 4.5 and 5, rho = sqrt(0.9).
  EXPECT_NEAR(spearman(vec({1, 2, 2, 3}), vec({1, 2, 3, 4})), std::sqrt(0.9), kTol);
  // ranks (1.5, 1.5, 3.5, 3.5) vs (2, 1, 4, 3): cov = 4, var = 4 and 5, rho = 2 / sqrt(5).
  EXPECT_NEAR(spearman(vec({7, 7, 9, 9}), vec({2, 1, 4, 3})), 2.0 / std::sqrt(5.0), kTol);
}

TEST(Statistics, SpearmanUndefinedAndErrors) {
  EXPECT_TRUE(std::isnan(spearman(vec({3, 3, 3}), vec({1, 2, 3}))));
  EXPECT_TRUE(std::isnan(spearman(vec({1, 2, 3}), at::zeros({3}))));
  EXPECT_TRUE(std::isnan(spearman(vec({1}), vec({2}))));
  auto [kind, msg] = errorOf([] { spearman(at::ones({4}), at::ones({2, 3})); });
  EXPECT_EQ(kind, ErrorKind::Input);
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
  std::tie(kind, msg) = errorOf([] { spearman(vec({1, 2}), vec({kNaN, 2})); });
  EXPECT_EQ(kind, ErrorKind::Input);
  EXPECT_NE(msg.find("second"), std::string::npos) << msg;
}

// ---- topKIoU -----------------------------------------------------------------------------

TEST(Statistics, TopKIoUByHand) {
  // 50% of 4: A = {0, 1}, B = {1, 2}: IoU = 1 / 3.
  EXPECT_NEAR(topKIoU(vec({4, 3, 2, 1}), vec({1, 3, 4, 2}), 50), 1.0 / 3.0, kTol);
  // Disjoint and identical masks.
  EXPECT_EQ(topKIoU(vec({4, 3, 2, 1}), vec({1, 2, 3, 4}), 50), 0.0);
  EXPECT_EQ(topKIoU(vec({4, 3, 2, 1}).reshape({2, 2}), vec({9, 8, 0, 0}), 50), 1.0);
  // 100% is always 1; a tiny percent still takes one element.
  EXPECT_EQ(topKIoU(vec({4, 3, 2, 1}), vec({1, 2, 3, 4}), 100), 1.0);
  EXPECT_EQ(topKIoU(vec({4, 3, 2, 1}), vec({1, 2, 3, 4}), 1e-9), 0.0);
  EXPECT_EQ(topKIoU(vec({4, 3, 2, 1}), vec({5, 2, 3, 4}), 1e-9), 1.0);
}

TEST(Statistics, TopKIoUBreaksTiesByLowerIndex) {
  // All tied: the mask is the first k flat indices. A = {0, 1}, B = top-2 of (0,1,1,0) = {1, 2}.
  EXPECT_NEAR(topKIoU(at::zeros({4}), vec({0, 1, 1, 0}), 50), 1.0 / 3.0, kTol);
  // Ties at the threshold: (5, 2, 2, 2) top-2 = {0, 1}; (2, 2, 5, 2) top-2 = {0, 2}.
  EXPECT_NEAR(topKIoU(vec({5, 2, 2, 2}), vec({2, 2, 5, 2}), 50), 1.0 / 3.0, kTol);
}

TEST(Statistics, TopKIoUCountsCeilPercent) {
  // a = -i: A = {0..k-1}; b = -i except b[0] very low: B = {1..k}; IoU = (k-1) / (k+1).
  const at::Tensor a = -at::arange(100, at::kDouble);
  at::Tensor b = a.clone();
  b[0] = -1000.0;
  EXPECT_NEAR(topKIoU(a, b, 7), 6.0 / 8.0, kTol);     // 7% of 100 is 7 (0.07 * 100 is not)
  EXPECT_NEAR(topKIoU(a, b, 2.5), 2.0 / 4.0, kTol);   // ceil(2.5) = 3
  EXPECT_NEAR(topKIoU(a, b, 10), 9.0 / 11.0, kTol);
  // N = 10, 25%: k = ceil(2.5) = 3.
  const at::Tensor a10 = -at::arange(10, at::kDouble);
  at::Tensor b10 = a10.clone();
  b10[0] = -1000.0;
  EXPECT_NEAR(topKIoU(a10, b10, 25), 2.0 / 4.0, kTol);
}

TEST(Statistics, TopKIoUErrors) {
  const at::Tensor a = vec({1, 2, 3});
  for (double p : {0.0, -5.0, 100.5, kNaN, kInf}) {
    auto [kind, msg] = errorOf([&] { topKIoU(a, a, p); });
    EXPECT_EQ(kind, ErrorKind::Usage) << p;
    EXPECT_NE(msg.find("percent"), std::string::npos) << msg;
  }
  EXPECT_EQ(errorOf([&] { topKIoU(a, vec({1, 2}), 50); }).first, ErrorKind::Input);
  EXPECT_EQ(errorOf([] { topKIoU(at::empty({0}), at::empty({0, 2}), 50); }).first, ErrorKind::Input);
  EXPECT_EQ(errorOf([&] { topKIoU(a, vec({1, kNaN, 3}), 50); }).first, ErrorKind::Input);
}

// ---- table and formatting ----------------------------------------------------------------

TEST(Statistics, CsvQuotesAsRfc4180) {
  StatisticsTable t;
  t.columns = {"module", "probe", "entropy"};
  t.rows = {{"aff", "weight", "0.5"},
            {"cafm, v2", "say \"hi\"", "nan"},
            {"multi\nline", "cr\rhere", ""}};
  EXPECT_EQ(toCsv(t),
            "module,probe,entropy\r\n"
            "aff,weight,0.5\r\n"
            "\"cafm, v2\",\"say \"\"hi\"\"\",nan\r\n"
            "\"multi\nline\",\"cr\rhere\",\r\n");
  t.rows.clear();
  EXPECT_EQ(toCsv(t), "module,probe,entropy\r\n");
}

TEST(Statistics, CsvRejectsRaggedTables) {
  StatisticsTable t;
  t.columns = {"a", "b"};
  t.rows = {{"1", "2"}, {"3"}};
  auto [kind, msg] = errorOf([&] { toCsv(t); });
  EXPECT_EQ(kind, ErrorKind::Internal);
  EXPECT_NE(msg.find("row 1"), std::string::npos) << msg;
  EXPECT_EQ(errorOf([] { toCsv(StatisticsTable{}); }).first, ErrorKind::Internal);
}

TEST(Statistics, FormatStatIsPercentSixG) {
  EXPECT_EQ(formatStat(0.5), "0.5");
  EXPECT_EQ(formatStat(1.0 / 3.0), "0.333333");
  EXPECT_EQ(formatStat(1e-7), "1e-07");
  EXPECT_EQ(formatStat(123456789.0), "1.23457e+08");
  EXPECT_EQ(formatStat(-2.0), "-2");
  EXPECT_EQ(formatStat(0.0), "0");
  EXPECT_EQ(formatStat(kInf), "inf");
  EXPECT_EQ(formatStat(-kInf), "-inf");
  EXPECT_EQ(formatStat(kNaN), "nan");
  EXPECT_EQ(formatStat(-kNaN), "nan");
  char buf[64];
  for (double v : {0.123456789, 98765.4321, 1e21, 3e-5, -0.000123}) {
    std::snprintf(buf, sizeof buf, "%.6g", v);
    EXPECT_EQ(formatStat(v), buf) << v;
  }
}

// ---- against tests/reference/stats_reference.py ---------------------------------------

class StatisticsReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "fl_stats_test_XXXXXX").string();
    if (!mkdtemp(pattern.data())) return;
    dir_ = pattern;
    const std::string out = dir_ + "/cases.json";
    const std::string cmd = test::env("FL_PYTHON") + " " + test::env("FL_SOURCE_DIR") +
                            "/tests/reference/stats_reference.py " + out + " > " + dir_ +
                            "/log.txt 2>&1";
    status_ = std::system(cmd.c_str());
    std::ifstream in(out);
    if (status_ == 0 && in) cases_ = nlohmann::json::parse(in);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  void SetUp() override {
    ASSERT_EQ(status_, 0) << "tests/reference/stats_reference.py failed; see " << dir_ << "/log.txt";
    ASSERT_TRUE(cases_.is_object()) << "no cases were written";
  }

  /// The group's cases; fails when there are suspiciously few.
  static const nlohmann::json& group(const std::string& name) {
    const nlohmann::json& g = cases_.at(name);
    EXPECT_GE(g.size(), 30u) << name;
    return g;
  }

  static at::Tensor tensorOf(const nlohmann::json& values, const nlohmann::json& shape,
                             const std::string& dtype) {
    const auto v = values.get<std::vector<double>>();
    const auto s = shape.get<std::vector<int64_t>>();
    const at::Tensor t = at::tensor(v, at::kDouble).reshape(s);
    if (dtype == "float32") return t.to(at::kFloat);
    if (dtype == "int64") return t.to(at::kLong);
    return t;
  }

  static void expectStat(double got, const nlohmann::json& c, size_t i) {
    if (c["expected"].is_null()) {
      EXPECT_TRUE(std::isnan(got)) << "case " << i << ": expected NaN, got " << got;
    } else {
      EXPECT_NEAR(got, c["expected"].get<double>(), 1e-9) << "case " << i;
    }
  }

  static std::string dir_;
  static int status_;
  static nlohmann::json cases_;
};
std::string StatisticsReference::dir_;
int StatisticsReference::status_ = -1;
nlohmann::json StatisticsReference::cases_;

TEST_F(StatisticsReference, Entropy) {
  const auto& g = group("entropy");
  for (size_t i = 0; i < g.size(); ++i) {
    const auto& c = g[i];
    expectStat(normalizedEntropy(tensorOf(c["values"], c["shape"], c["dtype"])), c, i);
  }
}

TEST_F(StatisticsReference, Gini) {
  const auto& g = group("gini");
  for (size_t i = 0; i < g.size(); ++i) {
    const auto& c = g[i];
    expectStat(giniSparsity(tensorOf(c["values"], c["shape"], c["dtype"])), c, i);
  }
}

TEST_F(StatisticsReference, Spearman) {
  const auto& g = group("spearman");
  size_t defined = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    const auto& c = g[i];
    expectStat(spearman(tensorOf(c["a"], c["shape_a"], c["dtype"]),
                        tensorOf(c["b"], c["shape_b"], c["dtype"])),
               c, i);
    defined += c["expected"].is_null() ? 0 : 1;
  }
  EXPECT_GE(defined, g.size() - 5);  // mostly real correlations, not NaN
}

TEST_F(StatisticsReference, TopKIoU) {
  const auto& g = group("topk");
  for (size_t i = 0; i < g.size(); ++i) {
    const auto& c = g[i];
    expectStat(topKIoU(tensorOf(c["a"], c["shape_a"], c["dtype"]),
                       tensorOf(c["b"], c["shape_b"], c["dtype"]), c["percent"].get<double>()),
               c, i);
  }
}

}  // namespace
}  // namespace fl::analysis
