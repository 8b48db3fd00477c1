#include "core/modules/registry.h"

#include <torch/utils.h>

#include <mutex>

#include "core/common/error.h"
#include "core/io/tensor_io.h"

namespace fl {

std::string shapeText(const Shape& shape) { return shapeText(at::IntArrayRef(shape)); }

const char* moduleCategoryName(ModuleCategory category) {
  switch (category) {
    case ModuleCategory::Channel: return "channel";
    case ModuleCategory::Spatial: return "spatial";
    case ModuleCategory::ChannelSpatial: return "channel+spatial";
    case ModuleCategory::Fusion: return "fusion";
    case ModuleCategory::CrossAttention: return "cross-attention";
  }
  return "?";
}

const ProbeSpec* ModuleDescriptor::findProbe(const std::string& name) const {
  for (const auto& p : probes) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

void ModuleRegistry::add(ModuleDescriptor descriptor) {
  if (find(descriptor.id) != nullptr) {
    throw Error(ErrorKind::Internal, "module id registered twice: " + descriptor.id);
  }
  // The memory budget and `inspect --module` need the state list before anything is built
  // (docs/contributing.md): a module without it is a programming error, caught at start.
  if (!descriptor.state) {
    throw Error(ErrorKind::Internal, "module " + descriptor.id + " has no state list (descriptor.state)");
  }
  modules_.push_back(std::move(descriptor));
}

const ModuleDescriptor* ModuleRegistry::find(const std::string& id) const {
  for (const auto& d : modules_) {
    if (d.id == id) return &d;
  }
  return nullptr;
}

const ModuleDescriptor& ModuleRegistry::get(const std::string& id) const {
  if (const auto* d = find(id)) return *d;
  std::string known;
  for (const auto& d : modules_) known += (known.empty() ? "" : ", ") + d.id;
  throwUsage("unknown module '" + id + "' (known: " + known + ")");
}

std::shared_ptr<ModuleInstance> makeSeededModule(const ModuleDescriptor& descriptor, const Params& params,
                                                 const std::vector<Shape>& shapes, uint64_t seed) {
  static std::mutex globalGenerator;
  const std::lock_guard<std::mutex> lock(globalGenerator);
  torch::manual_seed(seed);
  return descriptor.make(params, shapes);
}

}  // namespace fl
