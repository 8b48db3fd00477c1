#pragma once
/// The module registry: descriptors by id, in registration order. No singletons: whoever
/// needs one builds it with registerBuiltinModules().
#include <string>
#include <vector>

#include "core/modules/descriptor.h"

namespace fl {

class ModuleRegistry {
 public:
  /// Adds a descriptor; throws fl::Error(Internal) on a duplicate id.
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

}  // namespace fl
