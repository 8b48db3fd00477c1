#pragma once
/// Memory sizes and the budget: the default budget of a run (modules such as osra and cmgm grow
/// as (HW)^2) and of decoding an image (core/io), the one way to print and parse a size.
#include <cstdint>
#include <string>

namespace fl {

/// Bytes the OS reports as available (MemAvailable of /proc/meminfo); 0 if unknown.
int64_t availableMemoryBytes();

/// Default budget for one run: 60% of available memory (at least 256 MiB).
int64_t defaultMemoryBudget();

/// Peak resident set size of this process so far, in bytes.
int64_t peakRssBytes();

/// Called first in main() by both executables: glibc's malloc serves blocks of up to 32 MiB
/// (feature maps, activations) from its heap and keeps up to 64 MiB of freed memory before
/// trimming. By default it maps every block over 128 KiB afresh, paying a page fault per 4 KiB
/// on first touch (msf at 1x64x128x128: 42 ms a run instead of 3), and raises that threshold
/// only after the process happens to free a large block, so speed depended on what ran
/// before. No-op off glibc.
void setAllocatorPolicy();

/// "1.5 GiB", "300 MiB", "12 KiB", "17 B".
std::string formatBytes(int64_t bytes);

/// The largest memory size a person may type: 1 PiB (more than any machine has; larger
/// values would overflow the byte arithmetic).
constexpr int64_t kMaxMemoryBytes = int64_t{1} << 50;

/// Parses "512M", "2G", "1.5GiB", "1073741824" (1 B to kMaxMemoryBytes); otherwise
/// fl::Error(Usage) "FIELD 'TEXT' ..." with the accepted range.
int64_t parseBytes(const std::string& text, const std::string& field = "memory size");

}  // namespace fl
