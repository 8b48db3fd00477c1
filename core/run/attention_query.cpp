#include "core/run/attention_query.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>

#include "core/modules/attention_rows.h"
#include "core/modules/module_instance.h"
#include "core/run/memory.h"

namespace fl {

namespace {

torch::Device queryDevice(DeviceChoice choice, const std::string& moduleId) {
  if (choice == DeviceChoice::Cpu) return torch::kCPU;
  if (choice == DeviceChoice::Cuda && !cudaAvailable()) {
    throw Error(ErrorKind::Device,
                moduleId + ": attention rows on cuda: no CUDA device is usable; use the CPU");
  }
  return cudaAvailable() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

void queryChecked(const ModuleRegistry& registry, const RunRequest& req,
                  const std::vector<int64_t>& queries, AttentionQueryResult& res) {
  const auto start = std::chrono::steady_clock::now();
  const ModuleDescriptor& desc = registry.get(req.moduleId);
  res.moduleId = desc.id;
  const Params params = resolveParams(desc.id, desc.params, req.params);

  // The same validation as run(): a request run() refuses gets no rows either.
  std::vector<Shape> shapes;
  std::vector<at::Tensor> inputs;
  for (size_t i = 0; i < req.inputs.size(); ++i) {
    const at::Tensor& t = req.inputs[i];
    if (!t.defined() || !t.is_floating_point()) {
      throwInput(desc.id + ": input " + std::to_string(i + 1) +
                 " is empty or not floating point");
    }
    shapes.push_back(t.sizes().vec());
    inputs.push_back(t.to(at::kFloat).contiguous());
  }
  if (const std::string err = desc.check(params, shapes); !err.empty()) throwInput(err);
  res.queryHeight = shapes.at(0).at(2);
  res.queryWidth = shapes.at(0).at(3);

  // Rows need the module's fixed part plus one query row per chunk, never the full matrix.
  const int64_t budget = req.maxMemoryBytes > 0 ? req.maxMemoryBytes : defaultMemoryBudget();
  const int64_t required = desc.minMemoryBytes ? desc.minMemoryBytes(params, shapes)
                                               : desc.memoryBytes(params, shapes);
  if (required > budget) {
    throw Error(ErrorKind::Memory, desc.id + ": attention rows need at least " +
                                       formatBytes(required) + " but the memory budget is " +
                                       formatBytes(budget) + "; use smaller inputs");
  }

  const torch::Device device = queryDevice(req.device, desc.id);
  res.device = device.str();
  torch::NoGradGuard noGrad;
  // Same seed, then the same construction as run(): seeded weights are identical.
  torch::manual_seed(req.seed);
  std::shared_ptr<ModuleInstance> inst = desc.make(params, shapes);
  if (!inst->queryRows) {
    throwUsage(desc.id + " has no attention matrix; attention rows exist for osra and cmgm");
  }
  if (inst->setMemoryBudget) inst->setMemoryBudget(budget);
  if (req.weights) {
    loadStateDict(*inst->module, *req.weights, "weights");
  } else if (!req.weightsPath.empty()) {
    loadCheckpoint(*inst->module, req.weightsPath, req.weightsPrefix);
  }
  inst->module->eval();
  inst->module->to(device);
  for (auto& t : inputs) t = t.to(device);

  res.rows = attentionRows(*inst, inputs, queries).to(at::kCPU, at::kFloat).contiguous();
  res.queries = queries;
  res.totalMs = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  res.ok = true;
}

}  // namespace

AttentionQueryResult attentionQuery(const ModuleRegistry& registry, const RunRequest& request,
                                    const std::vector<int64_t>& queryIndices) {
  AttentionQueryResult res;
  const auto fail = [&](ErrorKind kind, const std::string& message) {
    res = AttentionQueryResult{};
    res.requestId = request.requestId;
    res.moduleId = request.moduleId;
    res.queries = queryIndices;
    res.errorKind = kind;
    res.error = message;
  };
  res.requestId = request.requestId;
  try {
    queryChecked(registry, request, queryIndices, res);
  } catch (const Error& e) {
    fail(e.kind(), e.what());
  } catch (const c10::Error& e) {
    fail(ErrorKind::Input,
         request.moduleId + ": LibTorch refused the attention rows: " + firstLine(e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    fail(ErrorKind::Memory, request.moduleId + ": out of memory computing attention rows");
  } catch (const std::exception& e) {
    fail(ErrorKind::Internal, request.moduleId + ": " + firstLine(e.what()));
  }
  return res;
}

}  // namespace fl
