#pragma once
/// Small helpers shared by the module descriptors: parameter declarations, input checks
/// and memory arithmetic. Torch-free.
#include <string>
#include <vector>

#include "core/modules/descriptor.h"

namespace fl::desc {

ParamSpec intParam(const std::string& name, int64_t def, int64_t min, int64_t max,
                   const std::string& help);
ParamSpec floatParam(const std::string& name, double def, double min, double max,
                     const std::string& help);
ParamSpec boolParam(const std::string& name, bool def, const std::string& help);
ParamSpec choiceParam(const std::string& name, const std::vector<std::string>& choices,
                      const std::string& help);  ///< default = first choice
ParamSpec intListParam(const std::string& name, const std::string& def, int64_t min,
                       int64_t max, const std::string& help);

ProbeSpec probe(const std::string& name, ProbeKind kind, const std::string& shape, double lo,
                double hi, const std::string& help);
ProbeSpec unboundedProbe(const std::string& name, ProbeKind kind, const std::string& shape,
                         const std::string& help);

/// Empty when `shapes` holds one NCHW shape per declared input, all positive, and (for
/// several inputs) all equal; otherwise a Problem about the input, naming its shape.
Problem checkNchwInputs(const ModuleDescriptor& d, const std::vector<Shape>& shapes);

/// Empty when channels / reduction >= 1, else a Problem about the parameter, with a fix.
Problem checkReduction(const std::string& moduleId, int64_t channels, int64_t reduction,
                           const std::string& paramName);

/// The Problem of an even `kernel_size` k (`consequence`: what would go wrong), with the
/// fix k + 1 (the next odd size; kernel sizes allow up to 255).
Problem evenKernel(const std::string& moduleId, int64_t k, const std::string& consequence);

int64_t numel(const Shape& shape);

/// Builds a descriptor's `state` list the way the built module lists its state_dict:
/// every parameter (in registration order, a module's own before its submodules') before any
/// buffer. Each layer helper adds what its torch::nn layer registers, under PREFIX + ".".
class StateList {
 public:
  StateList& param(const std::string& name, Shape shape);
  StateList& buffer(const std::string& name, Shape shape, bool integer = false);
  /// nn::Conv1d/Conv2d: weight [out, in/groups, k(, k)], bias [out].
  StateList& conv1d(const std::string& prefix, int64_t in, int64_t out, int64_t kernel, bool bias = true);
  StateList& conv2d(const std::string& prefix, int64_t in, int64_t out, int64_t kernel, bool bias = true,
                    int64_t groups = 1);
  /// nn::Linear: weight [out, in], bias [out].
  StateList& linear(const std::string& prefix, int64_t in, int64_t out, bool bias = true);
  /// nn::BatchNorm2d: weight, bias [C]; buffers running_mean, running_var [C] and
  /// num_batches_tracked [] (int64).
  StateList& batchNorm(const std::string& prefix, int64_t channels);
  /// nn::LayerNorm over [C]: weight, bias [C].
  StateList& layerNorm(const std::string& prefix, int64_t channels);
  std::vector<StateTensor> list() const;

 private:
  std::vector<StateTensor> params_;
  std::vector<StateTensor> buffers_;
};

/// Bytes the tensors of a state list hold (float32, int64 for integer buffers).
int64_t stateBytes(const std::vector<StateTensor>& state);

/// Bytes of `elements` float32 values.
inline int64_t f32Bytes(int64_t elements) { return elements * 4; }

}  // namespace fl::desc
