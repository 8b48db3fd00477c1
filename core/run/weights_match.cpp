#include "core/run/weights_match.h"

namespace fl {

std::vector<StateKey> expectedStateKeys(const ModuleDescriptor& desc, const Params& params,
                                        const std::vector<Shape>& shapes) {
  std::vector<StateKey> keys;
  for (const StateTensor& t : desc.state(params, shapes)) keys.push_back({t.name, t.shape});
  return keys;
}

WeightsReport matchWeights(const ModuleDescriptor& desc, const Params& params, const std::vector<Shape>& shapes,
                           const NamedTensors& tensors, const std::optional<std::string>& prefix,
                           const std::string& where) {
  const std::vector<StateKey> own = expectedStateKeys(desc, params, shapes);
  std::vector<std::string> names;
  for (const auto& k : own) names.push_back(k.name);
  const ModuleState ms = extractModuleState(tensors, names, prefix, where);
  WeightsReport report = matchStateKeys(own, ms.state);
  report.prefix = ms.prefix;
  report.notes = ms.notes;
  return report;
}

}  // namespace fl
