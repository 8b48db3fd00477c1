#pragma once
// Internal to core/io/ (and its tests): not part of the core's public headers.
//
// Byte order for the tensor formats that store little-endian data (.npy '<', safetensors):
// the readers swap on a big-endian host, and .npy also swaps big-endian ('>') files.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>

namespace fl::byte_order {

inline bool hostIsLittleEndian() {
  const uint16_t probe = 1;
  uint8_t first;
  std::memcpy(&first, &probe, 1);
  return first == 1;
}

/// Reverses the bytes of each `itemSize`-byte element of `data` (count elements) in place.
inline void byteSwap(uint8_t* data, size_t count, size_t itemSize) {
  for (size_t i = 0; i < count; ++i) {
    uint8_t* e = data + i * itemSize;
    for (size_t a = 0, b = itemSize - 1; a < b; ++a, --b) std::swap(e[a], e[b]);
  }
}

}  // namespace fl::byte_order
