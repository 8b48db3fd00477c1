#pragma once
// The built-in module registry, built once per test binary (tests only: the product has no
// singletons; whoever needs a registry builds one with registerBuiltinModules()).
#include "core/modules/registry.h"

namespace fl::test {

inline const ModuleRegistry& registry() {
  static const ModuleRegistry r = [] {
    ModuleRegistry reg;
    registerBuiltinModules(reg);
    return reg;
  }();
  return r;
}

}  // namespace fl::test
