#pragma once
// Internal to core/run/ (and its tests): not part of the core's public headers.
// The part of a run that run() and attentionQuery() share, so that attention rows are computed
// on exactly the module run() would build: the same validation, seed, weights and device.
// Internal to core/run.
#include <ATen/core/Tensor.h>
#include <torch/types.h>

#include <c10/util/Exception.h>

#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/common/error.h"

#include "core/modules/module_instance.h"
#include "core/modules/params.h"
#include "core/run/memory_plan.h"
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

/// Bytes of the weights file `request` will read (its size; 0 without one, or when its tensors
/// were read already): the checkpoint's tensors are in memory beside the module's while loading.
int64_t checkpointBytesToRead(const RunRequest& request);

/// The memory plan of a checked request computing `selection`: its budget and weights file
/// (planMemory() with checkpointBytesToRead()). run(), attentionQuery() and planRun() share it.
MemoryPlan planChecked(const CheckedRequest& checked, const RunRequest& request, const OutputSelection& selection);

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

/// Runs `body` and turns whatever it throws into one failure line for `fail(kind, message)`,
/// so run() and attentionQuery() never throw across threads: fl::Error as it is; LibTorch's
/// c10::Error as Input ("MODULE: LibTorch refused WHAT: ..."); bad_alloc as Memory
/// ("MODULE: `outOfMemory`"); anything else Internal.
inline void catchIntoFailure(const std::string& moduleId, const std::string& what,
                             const std::string& outOfMemory, const std::function<void()>& body,
                             const std::function<void(const Error&)>& fail) {
  try {
    body();
  } catch (const Error& e) {
    fail(e);  // with its subject and fix
  } catch (const c10::Error& e) {
    fail(Error(ErrorKind::Input,
               moduleId + ": LibTorch refused " + what + ": " + firstLine(e.what_without_backtrace())));
  } catch (const std::bad_alloc&) {
    fail(Error(ErrorKind::Memory, moduleId + ": " + outOfMemory));
  } catch (const std::exception& e) {
    fail(Error(ErrorKind::Internal, moduleId + ": " + firstLine(e.what())));
  }
}

}  // namespace fl::detail
