#pragma once
// Where the tests find the source tree, the build tree, Debian's Python and the reference
// cases: the environment first (to point a run elsewhere), else the paths CMake compiled in.
#include <cstdlib>
#include <string>

#include "test_paths.h"

namespace fl::test {

inline std::string env(const char* name) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') return v;
  const std::string n(name);
  if (n == "FL_SOURCE_DIR") return FL_TEST_SOURCE_DIR;
  if (n == "FL_BINARY_DIR") return FL_TEST_BINARY_DIR;
  if (n == "FL_PYTHON") return FL_TEST_PYTHON;
  if (n == "FL_CLI") return FL_TEST_CLI;
  if (n == "FL_REFERENCE_CASES") return FL_TEST_REFERENCE_CASES;
  return "";
}

}  // namespace fl::test
