// libFuzzer target: the image header pre-check (core/io/image_header.h) that runs before any
// decoder sees a file. Any input must either pass or throw fl::Error; crashes, sanitizer
// reports, other exceptions and timeouts are bugs. The orientation reader walks the same
// structures (EXIF in JPEG, PNG, WebP, TIFF) and is driven too.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/common/error.h"
#include "core/io/image_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<unsigned char> bytes(data, data + size);
  (void)fl::exifOrientation(bytes);
  try {
    const fl::ImageHeader h = fl::checkImageBytes(bytes, "fuzz.img");
    if (h.width < 1 || h.height < 1 || h.width > (int64_t{1} << 20) || h.height > (int64_t{1} << 20))
      __builtin_trap();  // an accepted header must be within the documented limits
  } catch (const fl::Error&) {
  }
  return 0;
}
