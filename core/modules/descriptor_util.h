#pragma once
// Internal to core/modules/ (and its tests): not part of the core's public headers.
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

/// "" when `shapes` holds one NCHW shape per declared input, all positive, and (for
/// several inputs) all equal; otherwise a message naming the input and its shape.
std::string checkNchwInputs(const ModuleDescriptor& d, const std::vector<Shape>& shapes);

/// "" when channels / reduction >= 1, else a message naming the parameter and a fix.
std::string checkReduction(const std::string& moduleId, int64_t channels, int64_t reduction,
                           const std::string& paramName);

int64_t numel(const Shape& shape);

/// Bytes of `elements` float32 values.
inline int64_t f32Bytes(int64_t elements) { return elements * 4; }

}  // namespace fl::desc
