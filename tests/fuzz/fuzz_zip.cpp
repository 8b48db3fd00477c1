// libFuzzer target: the zip reader (core/io/zip_archive.h): the directory, then every entry
// read (inflated, CRC-checked) under a 64 MiB cap per entry.
#include <cstddef>
#include <cstdint>

#include "core/common/error.h"
#include "core/io/zip_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    fl::ZipArchive zip = fl::ZipArchive::fromMemory(data, size, "fuzz.zip");
    zip.setMaxEntryBytes(uint64_t{64} << 20);
    for (const fl::ZipEntry& e : zip.entries()) {
      try {
        zip.read(e);
      } catch (const fl::Error&) {
      }
    }
  } catch (const fl::Error&) {
  }
  return 0;
}
