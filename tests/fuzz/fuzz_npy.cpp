// libFuzzer target: the .npy reader (core/io/npy.h). Any input must either parse or throw
// fl::Error; crashes, ASan reports, other exceptions and timeouts are bugs.
#include <cstddef>
#include <cstdint>

#include "core/common/error.h"
#include "core/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    fl::parseNpy(data, size, "fuzz.npy");
  } catch (const fl::Error&) {
  }
  return 0;
}
