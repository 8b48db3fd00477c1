#pragma once
/// Transparent huge pages for large buffers that are filled right after they are allocated
/// (a pickle arena's slabs, an [N,N] attention matrix). On this class of VM, first-touch faults
/// of 4 KiB pages cost about 1.7 s per 300 MiB; with 2 MiB pages there are 512 times fewer.
#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace fl {

constexpr size_t kHugePageBytes = size_t{2} << 20;

/// Advises the whole huge pages inside [begin, begin + bytes) for transparent huge pages,
/// before anything touches them. Only advice: where it is refused or unsupported the memory
/// stays ordinary pages and works the same.
inline void adviseHugePages(void* begin, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const auto b = reinterpret_cast<uintptr_t>(begin);
  const uintptr_t first = (b + kHugePageBytes - 1) & ~(uintptr_t{kHugePageBytes} - 1);
  const uintptr_t last = (b + bytes) & ~(uintptr_t{kHugePageBytes} - 1);
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)begin;
  (void)bytes;
#endif
}

}  // namespace fl
