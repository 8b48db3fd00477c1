#pragma once
/// The module registry: descriptors by id, in registration order. No singletons: whoever
/// needs one builds it with registerBuiltinModules().
#include <string>
#include <vector>

#include "core/modules/descriptor.h"

namespace fl {

class ModuleRegistry {
 public:
  /// Adds a descriptor; throws fl::Error(Internal) on a duplicate id or a missing `state`.
  void add(ModuleDescriptor descriptor);
  /// nullptr when unknown.
  const ModuleDescriptor* find(const std::string& id) const;
  /// Throws fl::Error(Usage) naming the unknown id and listing the known ones.
  const ModuleDescriptor& get(const std::string& id) const;
  const std::vector<ModuleDescriptor>& all() const { return modules_; }

 private:
  std::vector<ModuleDescriptor> modules_;
};

/// Registers the built-in module zoo (architecture.md's table of ids).
void registerBuiltinModules(ModuleRegistry& registry);

/// Builds a module (descriptor.make) with LibTorch's global generator seeded with `seed`, so
/// its PyTorch-default init is reproducible: the same seed, the same weights. A process-wide
/// lock covers seeding and building because run() may be called from several threads at once
/// (it is documented so, and tests do), and interleaved draws from the one global generator
/// would give the same seed different weights. The GUI no longer needs it (all its LibTorch
/// work runs on one worker thread, ui/job_service.h), so there it is never contended.
std::shared_ptr<ModuleInstance> makeSeededModule(const ModuleDescriptor& descriptor, const Params& params,
                                                 const std::vector<Shape>& shapes, uint64_t seed);

}  // namespace fl
