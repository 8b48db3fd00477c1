#include "core/run/run.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "core/modules/module_instance.h"
#include "core/run/estimate.h"
#include "core/common/memory.h"
#include "core/run/memory_plan.h"
#include "core/run/run_internal.h"

namespace fl {

namespace {

using Clock = std::chrono::steady_clock;

double msSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// No NaN or Inf in `t`. Contiguous float CPU tensors (every image's features) are scanned
/// directly: isfinite(t).all() made a full-size bool tensor and took tens of ms at 512x480x16
/// on the first run after opening an image.
bool allFinite(const at::Tensor& t) {
  if (t.scalar_type() != at::kFloat || !t.device().is_cpu() || !t.is_contiguous()) {
    return at::isfinite(t).all().item<bool>();
  }
  // NaN and Inf are the floats whose exponent bits are all ones (an integer test, which the
  // compiler vectorises; a float one it may not reorder).
  const float* p = t.data_ptr<float>();
  const int64_t n = t.numel();
  constexpr uint32_t kExponent = 0x7f800000u;
  for (int64_t i = 0; i < n; i += 4096) {
    const int64_t end = std::min(n, i + 4096);
    uint32_t special = 0;
    for (int64_t j = i; j < end; ++j) {
      uint32_t bits;
      std::memcpy(&bits, p + j, sizeof bits);
      special |= static_cast<uint32_t>((bits & kExponent) == kExponent);
    }
    if (special) return false;
  }
  return true;
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
  if (const Problem p = desc.check(c.params, c.shapes); !p.empty()) throw p.error(ErrorKind::Input);
  return c;
}

MemoryPlan planChecked(const CheckedRequest& checked, const RunRequest& req, const OutputSelection& selection) {
  return planMemory(*checked.desc, checked.params, checked.shapes, selection, req.maxMemoryBytes,
                    checkpointBytesToRead(req));
}

torch::Device resolveDevice(DeviceChoice choice) {
  if (choice == DeviceChoice::Cpu) return torch::kCPU;
  if (choice == DeviceChoice::Cuda) {
    if (!cudaAvailable()) {
      throw Error(ErrorKind::Device,
                  "device cuda: no CUDA device is usable (this LibTorch was built without "
                  "CUDA, or no GPU is present; a CUDA LibTorch build can use one, README, 'CUDA')",
                  settingSubject(kSettingDevice), fixBy(FixAction::UseCpu));
    }
    return torch::Device(torch::kCUDA, 0);
  }
  return cudaAvailable() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

int64_t checkpointBytesToRead(const RunRequest& req) {
  if (req.weights || req.weightsPath.empty()) return 0;
  std::error_code ec;
  // Not a regular file (or none): the loader refuses it with the reason; nothing to count.
  if (!std::filesystem::is_regular_file(req.weightsPath, ec)) return 0;
  const uintmax_t n = std::filesystem::file_size(req.weightsPath, ec);
  return ec ? 0 : static_cast<int64_t>(std::min<uintmax_t>(n, uintmax_t{1} << 62));
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
    if (!allFinite(inputs[i])) {
      res.warnings.push_back("input '" + desc.inputs[i].name + "' contains NaN or Inf values");
    }
  }

  const OutputSelection selection = selectOutputs(desc, req.outputs);
  // The budget counts the module's weights (from its state list, nothing built yet), a
  // checkpoint file while it is read, and the forward; refused here, before any allocation.
  const MemoryPlan plan = detail::planChecked(checked, req, selection);
  if (!plan.fits()) {
    throw Error(ErrorKind::Memory, plan.refusal(desc.id), settingSubject(kSettingMemoryBudget),
                fixBy(FixAction::RaiseMemoryBudget));
  }
  const int64_t budget = plan.moduleBudget();
  // What this run will use: for a chunked run (osra, cmgm over the budget) the planned chunked
  // working set, not the unchunked estimate a refusal is phrased in.
  res.estimatedBytes = plan.estimatedBytes();

  // Time: refuse before building anything when the estimate is over the limit.
  RunEstimate estimate;
  estimate.moduleId = desc.id;
  estimate.bytes = res.estimatedBytes;
  estimate.work = estimateWork(desc, params, shapes, selection);
  estimate.seconds = estimateSeconds(estimate.work);
  res.estimatedSeconds = estimate.seconds;
  if (req.maxSeconds > 0 && estimate.seconds > req.maxSeconds) {
    char flops[64];
    std::snprintf(flops, sizeof flops, "%.3g GFLOP",
                  (estimate.work.gemmFlops +
                   4.0 * estimate.work.attentionScores * static_cast<double>(estimate.work.headDim)) /
                      1e9);
    // The fix: a longer limit; the message names the other ways out (fewer outputs, smaller
    // inputs).
    const bool fewer = selection.all && (desc.findProbe("attention") || desc.outputs.size() > 1);
    const std::string seconds =
        std::to_string(static_cast<long long>(std::ceil(estimate.seconds * 1.5)));
    throw Error(ErrorKind::TimeLimit,
                desc.id + ": this run is estimated to take about " +
                    durationText(estimate.seconds) + " (" + flops + ", peak memory about " +
                    formatBytes(res.estimatedBytes) + "), over the time limit of " +
                    durationText(req.maxSeconds) + "; " +
                    (fewer ? "asking only for " + desc.outputs.front() +
                                 ", or downsampling the inputs, takes less"
                           : std::string("downsampling the inputs takes less")),
                settingSubject(kSettingTimeLimit), fixBy(FixAction::RaiseTimeLimit, seconds));
  }
  if (req.onEstimate) req.onEstimate(estimate);

  const torch::Device device = detail::resolveDevice(req.device);
  res.device = device.str();

  torch::NoGradGuard noGrad;  // guards are thread-local: set here, on the running thread
  detail::BuiltModule built = detail::buildModule(checked, req, budget, device, inputs);
  std::shared_ptr<ModuleInstance> inst = built.instance;  // chunks over the budget, see warnings
  res.weights = std::move(built.weights);
  res.loadMs = built.loadMs;

  if (inst->select) inst->select(selection);
  bool probesWanted = false;
  for (const ProbeSpec& spec : desc.probes) probesWanted = probesWanted || selection.wants(spec.name);

  const auto fwdStart = Clock::now();
  std::optional<probe::Scope> scope;  // no scope: modules skip probe work (osra, cmgm)
  if (probesWanted) scope.emplace();
  std::vector<at::Tensor> outputs;
  {
    progress::Scope progressScope(req.onProgress, req.cancel);
    outputs = inst->forward(inputs);
  }
  if (device.is_cuda()) torch::cuda::synchronize();
  res.forwardMs = msSince(fwdStart);
  if (req.cancel && req.cancel->load()) {
    throw Error(ErrorKind::Cancelled, desc.id + ": cancelled (interrupted by the user)");
  }

  if (inst->warnings) {
    for (const auto& w : inst->warnings()) res.warnings.push_back(w);
  }
  res.outputNames.clear();
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (!outputs[i].defined()) continue;  // withheld over the memory budget (see warnings)
    if (!selection.wants(desc.outputs.at(i))) continue;
    res.outputNames.push_back(desc.outputs.at(i));
    res.outputs.push_back(outputs[i].detach().to(at::kCPU).contiguous());
  }
  const probe::Records records = scope ? scope->take() : probe::Records();
  for (const ProbeSpec& spec : desc.probes) {
    if (!selection.wants(spec.name)) continue;
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
  throwUsage("device '" + text + "' is not one of auto, cpu, cuda", settingSubject(kSettingDevice));
}

bool cudaAvailable() { return torch::cuda::is_available(); }

MemoryPlan planRun(const ModuleRegistry& registry, const RunRequest& request) {
  const detail::CheckedRequest checked = detail::checkRequest(registry, request);
  return detail::planChecked(checked, request, selectOutputs(*checked.desc, request.outputs));
}

OutputSelection selectOutputs(const ModuleDescriptor& desc, const std::vector<std::string>& names) {
  OutputSelection sel;
  if (names.empty()) return sel;
  sel.all = false;
  for (const std::string& name : names) {
    const bool isOutput =
        std::find(desc.outputs.begin(), desc.outputs.end(), name) != desc.outputs.end();
    const std::string probeName = name.rfind("probe.", 0) == 0 ? name.substr(6) : name;
    if (isOutput) {
      sel.names.push_back(name);
    } else if (desc.findProbe(probeName)) {
      sel.names.push_back(probeName);
    } else {
      std::string outs, probes;
      for (const auto& o : desc.outputs) outs += (outs.empty() ? "" : ", ") + o;
      for (const auto& p : desc.probes) probes += (probes.empty() ? "" : ", ") + ("probe." + p.name);
      throwUsage(desc.id + ": '" + name + "' is not one of its outputs (" + outs + ")" +
                     (probes.empty() ? std::string(" (it has no probes)")
                                     : " or probes (" + probes + ")"),
                 settingSubject(kSettingOutputs));
    }
  }
  return sel;
}

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
  const auto fail = [&](const Error& e) {
    res = RunResult{};
    res.requestId = request.requestId;
    res.moduleId = request.moduleId;
    res.errorKind = e.kind();
    res.error = e.what();
    res.errorSubject = e.subject();
    res.errorFix = e.fix();
  };
  detail::catchIntoFailure(request.moduleId, "the run", "out of memory; use smaller inputs",
                           [&] { runChecked(registry, request, res); }, fail);
  return res;
}

}  // namespace fl
