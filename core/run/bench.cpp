#include "core/run/bench.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/nn/module.h>
#include <torch/utils.h>

#include <algorithm>
#include <chrono>
#include <limits>

#include "core/common/error.h"
#include "core/modules/module_instance.h"
#include "core/run/estimate.h"
#include "core/common/memory.h"
#include "core/run/memory_plan.h"
#include "core/run/run.h"

namespace fl {

std::vector<BenchResult> bench(const ModuleRegistry& registry, const BenchOptions& options) {
  if (options.threads > 0) at::set_num_threads(options.threads);
  std::vector<std::string> ids = options.moduleIds;
  if (ids.empty()) {
    for (const auto& d : registry.all()) ids.push_back(d.id);
  }
  std::vector<BenchResult> results;
  for (const auto& id : ids) {
    const ModuleDescriptor& desc = registry.get(id);
    BenchResult r;
    r.moduleId = id;
    r.shape = options.shape;
    r.iters = options.iters;
    r.threads = at::get_num_threads();
    try {
      const Params params = resolveParams(id, desc.params, {});
      const std::vector<Shape> shapes(desc.inputs.size(), options.shape);
      if (const Problem p = desc.check(params, shapes); !p.empty()) throw p.error(ErrorKind::Input);
      // probes are off in the bench: only the selected outputs count
      OutputSelection sel = selectOutputs(desc, options.outputs);
      if (sel.all) {
        sel.all = false;
        sel.names = desc.outputs;
      }
      // The bench runs unchunked, weights and all, under the default budget.
      const MemoryPlan plan = planMemory(desc, params, shapes, sel, 0);
      r.estimatedBytes = std::min(plan.fullWorkBytes, std::numeric_limits<int64_t>::max() - plan.weightBytes) +
                         plan.weightBytes;
      r.work = estimateWork(desc, params, shapes, sel);
      r.estimatedMs = 1000 * estimateSeconds(r.work);
      if (r.estimatedBytes > plan.budget) {
        throw Error(ErrorKind::Memory, "needs about " + formatBytes(r.estimatedBytes) + " (weights " +
                                           formatBytes(plan.weightBytes) + ")");
      }
      torch::NoGradGuard noGrad;
      auto inst = makeSeededModule(desc, params, shapes, 0);
      inst->module->eval();
      if (inst->select) inst->select(sel);
      std::vector<at::Tensor> inputs;
      for (size_t i = 0; i < shapes.size(); ++i) inputs.push_back(at::randn(options.shape));
      for (int i = 0; i < options.warmup; ++i) inst->forward(inputs);
      std::vector<double> times;
      for (int i = 0; i < options.iters; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        inst->forward(inputs);
        times.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count());
      }
      std::sort(times.begin(), times.end());
      r.minMs = times.front();
      r.medianMs = times.size() % 2 ? times[times.size() / 2]
                                    : (times[times.size() / 2 - 1] + times[times.size() / 2]) / 2;
      r.peakRssBytes = peakRssBytes();
    } catch (const Error& e) {
      r.error = e.what();
    } catch (const c10::Error& e) {
      r.error = firstLine(e.what_without_backtrace());
    }
    results.push_back(r);
  }
  return results;
}

}  // namespace fl
