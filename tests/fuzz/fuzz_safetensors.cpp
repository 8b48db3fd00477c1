// libFuzzer target: the .safetensors reader (core/io/safetensors.h).
#include <cstddef>
#include <cstdint>

#include "core/common/error.h"
#include "core/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    fl::parseSafetensors(data, size, "fuzz.safetensors");
  } catch (const fl::Error&) {
  }
  return 0;
}
