#include "core/run/attention_query.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>

#include "core/common/error.h"
#include "core/modules/attention_rows.h"
#include "core/modules/module_instance.h"
#include "core/common/memory.h"
#include "core/run/memory_plan.h"
#include "core/run/run_internal.h"

namespace fl {

namespace {

void queryChecked(const ModuleRegistry& registry, const RunRequest& req,
                  const std::vector<int64_t>& queries, AttentionQueryResult& res) {
  const auto start = std::chrono::steady_clock::now();
  // The same validation as run(): a request run() refuses gets no rows either.
  detail::CheckedRequest checked = detail::checkRequest(registry, req);
  const ModuleDescriptor& desc = *checked.desc;
  const std::vector<Shape>& shapes = checked.shapes;
  res.moduleId = desc.id;
  res.queryHeight = shapes.at(0).at(2);
  res.queryWidth = shapes.at(0).at(3);

  // Rows need the module's weights and fixed part plus one query row per chunk, never the full
  // matrix: the minimum (chunked) plan must fit.
  OutputSelection rowsOnly;
  rowsOnly.all = false;
  rowsOnly.names = {desc.outputs.front()};
  const MemoryPlan plan = detail::planChecked(checked, req, rowsOnly);
  if (!plan.fits()) {
    throw Error(ErrorKind::Memory, plan.refusal(desc.id, "attention rows"), settingSubject(kSettingMemoryBudget),
                fixBy(FixAction::RaiseMemoryBudget));
  }
  const int64_t budget = plan.moduleBudget();

  const torch::Device device = detail::resolveDevice(req.device);
  res.device = device.str();
  torch::NoGradGuard noGrad;
  // The same seed, construction and weights as run(): seeded weights are identical.
  detail::BuiltModule built = detail::buildModule(checked, req, budget, device, checked.inputs);
  if (!built.instance->queryRows) {
    throwUsage(desc.id + " has no attention matrix; attention rows exist for osra and cmgm");
  }
  res.rows = attentionRows(*built.instance, checked.inputs, queries).to(at::kCPU, at::kFloat).contiguous();
  res.queries = queries;
  res.totalMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  res.ok = true;
}

}  // namespace

AttentionQueryResult attentionQuery(const ModuleRegistry& registry, const RunRequest& request,
                                    const std::vector<int64_t>& queryIndices) {
  AttentionQueryResult res;
  const auto fail = [&](const Error& e) {
    res = AttentionQueryResult{};
    res.requestId = request.requestId;
    res.moduleId = request.moduleId;
    res.queries = queryIndices;
    res.errorKind = e.kind();
    res.error = e.what();
  };
  res.requestId = request.requestId;
  detail::catchIntoFailure(request.moduleId, "the attention rows", "out of memory computing attention rows",
                           [&] { queryChecked(registry, request, queryIndices, res); }, fail);
  return res;
}

}  // namespace fl
