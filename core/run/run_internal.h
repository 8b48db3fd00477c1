#pragma once
// The part of a run that run() and attentionQuery() share, so that attention rows are computed
// on exactly the module run() would build: the same validation, seed, weights and device.
// Internal to core/run.
#include <ATen/core/Tensor.h>
#include <torch/types.h>

#include <memory>
#include <vector>

#include "core/modules/module_instance.h"
#include "core/modules/params.h"
#include "core/run/run.h"

namespace fl::detail {

/// A request whose module, parameters and inputs passed every check.
struct CheckedRequest {
  const ModuleDescriptor* desc = nullptr;
  Params params;
  std::vector<Shape> shapes;       ///< of the inputs, as given
  std::vector<at::Tensor> inputs;  ///< float32, contiguous, CPU
};

/// Resolves the parameters, requires floating-point inputs and runs the descriptor's check.
/// Throws fl::Error (Usage for an unknown module or bad parameter, Input otherwise).
CheckedRequest checkRequest(const ModuleRegistry& registry, const RunRequest& request);

/// cpu, cuda (fl::Error Device when none is usable) or auto (cuda when available).
torch::Device resolveDevice(DeviceChoice choice);

/// A module built for a request, loaded and placed on its device, in eval mode.
struct BuiltModule {
  std::shared_ptr<ModuleInstance> instance;
  WeightsReport weights;  ///< empty without weights
  double loadMs = 0;
};

/// Seeds the init with request.seed, makes the module, gives it the memory budget, loads the
/// request's weights (state_dict or checkpoint file), switches to eval and moves the module and
/// `inputs` to `device`. The caller holds a torch::NoGradGuard.
BuiltModule buildModule(const CheckedRequest& checked, const RunRequest& request, int64_t budget,
                        const torch::Device& device, std::vector<at::Tensor>& inputs);

}  // namespace fl::detail
