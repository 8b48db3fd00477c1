#pragma once
/// How a checkpoint fits a module, from the module's descriptor alone: its state list gives
/// the keys and shapes, so nothing is built or allocated (`inspect --module` on aff at
/// C = 24000 needs the names and shapes of 2.3 GB of weights, not the weights).
#include <optional>
#include <string>
#include <vector>

#include "core/io/state_dict.h"
#include "core/modules/descriptor.h"

namespace fl {

/// The descriptor's state list as state_dict keys and shapes.
std::vector<StateKey> expectedStateKeys(const ModuleDescriptor& desc, const Params& params,
                                        const std::vector<Shape>& shapes);

/// extractModuleState() + matchStateKeys(): the report loadCheckpointTensors() would give for
/// the built module, with the chosen prefix and notes. `where` names the file in messages.
WeightsReport matchWeights(const ModuleDescriptor& desc, const Params& params, const std::vector<Shape>& shapes,
                           const NamedTensors& tensors, const std::optional<std::string>& prefix,
                           const std::string& where);

}  // namespace fl
