#pragma once
/// Memory budget for a run: modules such as osra and cmgm grow as (HW)^2.
#include <cstdint>
#include <string>

namespace fl {

/// Bytes the OS reports as available (MemAvailable of /proc/meminfo); 0 if unknown.
int64_t availableMemoryBytes();

/// Default budget for one run: 60% of available memory (at least 256 MiB).
int64_t defaultMemoryBudget();

/// Peak resident set size of this process so far, in bytes.
int64_t peakRssBytes();

/// "1.5 GiB", "300 MiB", "12 KiB", "17 B".
std::string formatBytes(int64_t bytes);

/// Parses "512M", "2G", "1.5GiB", "1073741824"; throws fl::Error(Usage) otherwise.
int64_t parseBytes(const std::string& text);

}  // namespace fl
