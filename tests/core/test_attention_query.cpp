// attentionQuery(): the attention rows of chosen query pixels for a run request equal the
// rows of the full `attention` probe of run() on the same request (seeded init or loaded
// weights), also when the run withheld that probe over the memory budget; bad requests fail
// with a message, never an exception.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <memory>
#include <string>
#include <vector>

#include "core/io/state_dict.h"
#include "core/modules/module_instance.h"
#include "core/run/attention_query.h"
#include "core/run/run.h"
#include "test_registry.h"

namespace fl {
namespace {

using test::registry;

constexpr int64_t kLargeBudget = int64_t{1} << 30;  // the full matrix fits: the probe exists

void expectRowsOfProbe(const AttentionQueryResult& got, const at::Tensor& full,
                       const std::vector<int64_t>& queries) {
  ASSERT_TRUE(got.ok) << got.error;
  const at::Tensor want = full.index_select(2, at::tensor(queries, at::kLong));
  ASSERT_EQ(got.rows.sizes(), want.sizes());
  const double diff = (got.rows - want).abs().max().item<double>();
  EXPECT_LE(diff, 1e-5) << "rows differ from the full matrix by " << diff;
  EXPECT_EQ(got.queries, queries);
}

/// Random weights and BatchNorm statistics for `id` at `shapes`, as a loaded state_dict.
std::shared_ptr<const NamedTensors> randomWeights(const std::string& id, const RunRequest& req) {
  const ModuleDescriptor& d = registry().get(id);
  std::vector<Shape> shapes;
  for (const auto& t : req.inputs) shapes.push_back(t.sizes().vec());
  auto inst = d.make(resolveParams(id, d.params, req.params), shapes);
  torch::NoGradGuard noGrad;
  torch::manual_seed(1234);
  for (auto& p : inst->module->named_parameters()) p.value().uniform_(-0.5, 0.5);
  for (auto& b : inst->module->named_buffers()) {
    if (b.key().find("running_var") != std::string::npos) b.value().uniform_(0.5, 1.5);
    if (b.key().find("running_mean") != std::string::npos) b.value().normal_(0, 0.2);
  }
  return std::make_shared<const NamedTensors>(moduleStateDict(*inst->module));
}

RunRequest osraRequest() {
  RunRequest req;
  req.requestId = 7;
  req.moduleId = "osra";
  req.params = {{"num_heads", "4"}, {"sr_ratio", "2"}};
  req.inputs = {at::randn({2, 16, 6, 9})};
  req.seed = 3;
  req.maxMemoryBytes = kLargeBudget;
  return req;
}

RunRequest cmgmRequest() {
  RunRequest req;
  req.requestId = 11;
  req.moduleId = "cmgm";
  req.inputs = {at::randn({1, 64, 5, 7}), at::randn({1, 64, 5, 7})};
  req.maxMemoryBytes = kLargeBudget;
  return req;
}

TEST(AttentionQuery, OsraRowsEqualTheFullMatrixRowsWithSeededInit) {
  const RunRequest req = osraRequest();
  const RunResult full = run(registry(), req);
  ASSERT_TRUE(full.ok) << full.error;
  const ProbeResult* attn = full.findProbe("attention");
  ASSERT_NE(attn, nullptr);
  const std::vector<int64_t> queries{0, 53, 17, 17, 40};
  const AttentionQueryResult rows = attentionQuery(registry(), req, queries);
  expectRowsOfProbe(rows, attn->value, queries);
  EXPECT_EQ(rows.requestId, 7u);
  EXPECT_EQ(rows.queryHeight, 6);
  EXPECT_EQ(rows.queryWidth, 9);
}

TEST(AttentionQuery, CmgmRowsEqualTheFullMatrixRowsWithLoadedWeights) {
  RunRequest req = cmgmRequest();
  req.weights = randomWeights("cmgm", req);
  const RunResult full = run(registry(), req);
  ASSERT_TRUE(full.ok) << full.error;
  ASSERT_TRUE(full.weights.ok()) << full.weights.summary();
  const ProbeResult* attn = full.findProbe("attention");
  ASSERT_NE(attn, nullptr);
  const std::vector<int64_t> queries{34, 0, 12};
  expectRowsOfProbe(attentionQuery(registry(), req, queries), attn->value, queries);
  // Other weights give other rows: the weights were used, not a seeded init.
  RunRequest seeded = req;
  seeded.weights.reset();
  const AttentionQueryResult other = attentionQuery(registry(), seeded, queries);
  ASSERT_TRUE(other.ok) << other.error;
  EXPECT_GT((other.rows - attn->value.index_select(2, at::tensor(queries, at::kLong))).abs().max().item<double>(), 1e-3);
}

TEST(AttentionQuery, RowsExistWhenTheRunWithheldTheProbe) {
  const RunRequest big = osraRequest();
  const RunResult full = run(registry(), big);
  ASSERT_TRUE(full.ok) << full.error;
  const at::Tensor want = full.findProbe("attention")->value;
  // A budget between the chunked minimum and the full estimate: the run withholds the
  // probe, the rows of a few queries still come.
  RunRequest small = big;
  const ModuleDescriptor& d = registry().get("osra");
  const Params p = resolveParams("osra", d.params, small.params);
  const std::vector<Shape> shapes{small.inputs[0].sizes().vec()};
  const int64_t lo = d.minMemoryBytes(p, shapes), hi = d.memoryBytes(p, shapes);
  ASSERT_LT(lo, hi);
  small.maxMemoryBytes = lo + (hi - lo) / 8;
  const RunResult chunked = run(registry(), small);
  ASSERT_TRUE(chunked.ok) << chunked.error;
  ASSERT_EQ(chunked.findProbe("attention"), nullptr) << "the budget must withhold the probe";
  const std::vector<int64_t> queries{1, 50, 26};
  expectRowsOfProbe(attentionQuery(registry(), small, queries), want, queries);
}

TEST(AttentionQuery, BadRequestsFailWithAMessage) {
  RunRequest req = osraRequest();
  AttentionQueryResult r = attentionQuery(registry(), req, {54});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.errorKind, ErrorKind::Input);
  EXPECT_NE(r.error.find("[0, 54)"), std::string::npos) << r.error;
  r = attentionQuery(registry(), req, {});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.errorKind, ErrorKind::Input);

  RunRequest eca;
  eca.moduleId = "eca";
  eca.inputs = {at::randn({1, 8, 4, 4})};
  r = attentionQuery(registry(), eca, {0});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.errorKind, ErrorKind::Usage);
  EXPECT_NE(r.error.find("no attention matrix"), std::string::npos) << r.error;

  req.params["num_heads"] = "5";  // 16 channels: refused like run() refuses it
  r = attentionQuery(registry(), req, {0});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("num_heads"), std::string::npos) << r.error;

  RunRequest tiny = osraRequest();
  tiny.maxMemoryBytes = 64;
  r = attentionQuery(registry(), tiny, {0});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.errorKind, ErrorKind::Memory);
}

}  // namespace
}  // namespace fl
