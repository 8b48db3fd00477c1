// The built-in module zoo, expanded from builtin_modules.def: adding a module is one line
// there (docs/contributing.md), not an include and a call here.
#include "core/modules/descriptor.h"
#include "core/modules/registry.h"

namespace fl {

// Each module's header declares the same function; declaring it here keeps this file free of
// the modules' torch headers.
#define FL_MODULE(descriptorFn) ModuleDescriptor descriptorFn();
#include "core/modules/builtin_modules.def"
#undef FL_MODULE

void registerBuiltinModules(ModuleRegistry& registry) {
#define FL_MODULE(descriptorFn) registry.add(descriptorFn());
#include "core/modules/builtin_modules.def"
#undef FL_MODULE
}

}  // namespace fl
