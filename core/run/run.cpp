#include "core/run/run.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>

#include "core/modules/module_instance.h"
#include "core/run/memory.h"
#include "core/run/run_internal.h"

namespace fl {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

namespace detail {

CheckedRequest checkRequest(const ModuleRegistry& registry, const RunRequest& req) {
  CheckedRequest c;
  c.desc = &registry.get(req.moduleId);
  const ModuleDescriptor& desc = *c.desc;
  c.params = resolveParams(desc.id, desc.params, req.params);
  for (size_t i = 0; i < req.inputs.size(); ++i) {
    const at::Tensor& t = req.inputs[i];
    if (!t.defined()) throwInput(desc.id + ": input " + std::to_string(i + 1) + " is empty");
    if (!t.is_floating_point()) {
      throwInput(desc.id + ": input " + std::to_string(i + 1) + " has dtype " +
                 std::string(c10::toString(t.scalar_type())) + "; expected floating point");
    }
    c.shapes.push_back(t.sizes().vec());
    c.inputs.push_back(t.to(at::kFloat).contiguous());
  }
  if (const std::string err = desc.check(c.params, c.shapes); !err.empty()) throwInput(err);
  return c;
}

torch::Device resolveDevice(DeviceChoice choice) {
  if (choice == DeviceChoice::Cpu) return torch::kCPU;
  if (choice == DeviceChoice::Cuda) {
    if (!cudaAvailable()) {
      throw Error(ErrorKind::Device,
                  "--device cuda: no CUDA device is usable (this LibTorch was built without "
                  "CUDA, or no GPU is present); use --device cpu, or build against a CUDA "
                  "LibTorch (README, 'CUDA')");
    }
    return torch::Device(torch::kCUDA, 0);
  }
  return cudaAvailable() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

BuiltModule buildModule(const CheckedRequest& checked, const RunRequest& req, int64_t budget,
                        const torch::Device& device, std::vector<at::Tensor>& inputs) {
  BuiltModule b;
  // The same seed gives the same init in run() and rows, whatever else runs meanwhile.
  b.instance = makeSeededModule(*checked.desc, checked.params, checked.shapes, req.seed);
  if (b.instance->setMemoryBudget) b.instance->setMemoryBudget(budget);
  const auto loadStart = Clock::now();
  if (req.weights) {
    // Already read (a flattened checkpoint or a plain state_dict): the same extraction.
    b.weights = loadCheckpointTensors(*b.instance->module, *req.weights, req.weightsPrefix,
                                      req.weightsPath.empty() ? "weights" : req.weightsPath);
  } else if (!req.weightsPath.empty()) {
    // Plain, nested, DataParallel or whole-network checkpoints (core/io/state_dict.h).
    b.weights = loadCheckpoint(*b.instance->module, req.weightsPath, req.weightsPrefix);
  }
  b.loadMs = msSince(loadStart);
  b.instance->module->eval();
  b.instance->module->to(device);
  for (auto& t : inputs) t = t.to(device);
  return b;
}

}  // namespace detail

namespace {

void runChecked(const ModuleRegistry& registry, const RunRequest& req, RunResult& res) {
  const auto start = Clock::now();
  detail::CheckedRequest checked = detail::checkRequest(registry, req);
  const ModuleDescriptor& desc = *checked.desc;
  res.moduleId = desc.id;
  const Params& params = checked.params;
  const std::vector<Shape>& shapes = checked.shapes;
  std::vector<at::Tensor>& inputs = checked.inputs;
  res.outputNames = desc.outputs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!at::isfinite(inputs[i]).all().item<bool>()) {
      res.warnings.push_back("input '" + desc.inputs[i].name + "' contains NaN or Inf values");
    }
  }

  res.estimatedBytes = desc.memoryBytes(params, shapes);
  const int64_t budget = req.maxMemoryBytes > 0 ? req.maxMemoryBytes : defaultMemoryBudget();
  // Modules that can compute attention in query chunks (osra, cmgm) need only their minimum.
  const int64_t required = desc.minMemoryBytes
                               ? std::min(res.estimatedBytes, desc.minMemoryBytes(params, shapes))
                               : res.estimatedBytes;
  if (required > budget) {
    std::string need = formatBytes(res.estimatedBytes);
    if (required < res.estimatedBytes) {
      need += " (at least " + formatBytes(required) + " when computed in query chunks)";
    }
    throw Error(ErrorKind::Memory,
                desc.id + ": this run needs about " + need +
                    " but the memory budget is " + formatBytes(budget) +
                    "; use smaller inputs (downsample H and W) or raise the budget with "
                    "--max-memory");
  }

  // Report what this run will use: for a chunked run (osra, cmgm over the budget) the planned
  // chunked working set, not the unchunked estimate the refusal above is phrased in.
  if (desc.plannedMemoryBytes && res.estimatedBytes > budget) {
    res.estimatedBytes = desc.plannedMemoryBytes(params, shapes, budget);
  }

  const torch::Device device = detail::resolveDevice(req.device);
  res.device = device.str();

  torch::NoGradGuard noGrad;  // guards are thread-local: set here, on the running thread
  detail::BuiltModule built = detail::buildModule(checked, req, budget, device, inputs);
  std::shared_ptr<ModuleInstance> inst = built.instance;  // chunks over the budget, see warnings
  res.weights = std::move(built.weights);
  res.loadMs = built.loadMs;

  const auto fwdStart = Clock::now();
  probe::Scope scope;
  std::vector<at::Tensor> outputs = inst->forward(inputs);
  if (device.is_cuda()) torch::cuda::synchronize();
  res.forwardMs = msSince(fwdStart);

  if (inst->warnings) {
    for (const auto& w : inst->warnings()) res.warnings.push_back(w);
  }
  res.outputNames.clear();
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined()) continue;  // withheld over the memory budget (see warnings)
    res.outputNames.push_back(desc.outputs.at(i));
    res.outputs.push_back(outputs[i].detach().to(at::kCPU).contiguous());
  }
  const probe::Records records = scope.take();
  for (const ProbeSpec& spec : desc.probes) {
    const auto it = records.find(spec.name);
    if (it == records.end()) continue;  // a probe may be withheld (e.g. over budget)
    res.probes.push_back({spec.name, spec.kind, it->second.to(at::kFloat), spec.lo, spec.hi});
  }
  res.totalMs = msSince(start);
  res.ok = true;
}

}  // namespace

DeviceChoice parseDevice(const std::string& text) {
  if (text == "auto") return DeviceChoice::Auto;
  if (text == "cpu") return DeviceChoice::Cpu;
  if (text == "cuda") return DeviceChoice::Cuda;
  throwUsage("--device '" + text + "' is not one of auto, cpu, cuda");
}

bool cudaAvailable() { return torch::cuda::is_available(); }

const ProbeResult* RunResult::findProbe(const std::string& name) const {
  for (const auto& p : probes) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

RunResult run(const ModuleRegistry& registry, const RunRequest& request) {
  RunResult res;
  res.requestId = request.requestId;
  // A failure keeps nothing of the partial result, only what and where.
  const auto fail = [&](ErrorKind kind, const std::string& message) {
    res = RunResult{};
    res.requestId = request.requestId;
    res.moduleId = request.moduleId;
    res.errorKind = kind;
    res.error = message;
  };
  detail::catchIntoFailure(request.moduleId, "the run", "out of memory; use smaller inputs",
                           [&] { runChecked(registry, request, res); }, fail);
  return res;
}

}  // namespace fl
