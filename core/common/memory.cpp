#include "core/common/memory.h"

#include <sys/resource.h>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/common/error.h"
#include "core/common/numbers.h"

namespace fl {

void setAllocatorPolicy() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest dynamic threshold on 64-bit
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
}

int64_t availableMemoryBytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

int64_t defaultMemoryBudget() {
  const int64_t avail = availableMemoryBytes();
  const int64_t floor = int64_t{256} << 20;
  if (avail <= 0) return int64_t{4} << 30;
  const auto budget = static_cast<int64_t>(static_cast<double>(avail) * 0.6);
  return budget < floor ? floor : budget;
}

int64_t peakRssBytes() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

std::string formatBytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (std::fabs(v) >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, v < 10 ? "%.2f %s" : (v < 100 ? "%.1f %s" : "%.0f %s"), v,
                  units[u]);
  }
  return buf;
}

int64_t parseBytes(const std::string& text, const std::string& field) {
  // The number and its unit: "1.5G" -> 1.5 and "G". The number goes through the one number
  // parser (core/common/numbers.h): junk, inf, nan and overflow are refused, never wrapped.
  size_t split = 0;
  while (split < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[split])) || text[split] == '.' ||
          text[split] == '+' || text[split] == '-' ||
          ((text[split] == 'e' || text[split] == 'E') && split > 0 && split + 1 < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[split + 1])) || text[split + 1] == '-' ||
            text[split + 1] == '+'))))
    ++split;
  const std::string range = " (a memory size such as 512M or 4G, from 1 B to " +
                            formatBytes(kMaxMemoryBytes) + ")";
  const auto v = toReal(std::string_view(text).substr(0, split));
  if (!v || *v <= 0) throwUsage(field + " '" + clipForMessage(text) + "' is not a memory size" + range);
  std::string unit = text.substr(split);
  for (auto& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double mult = 1;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "K" || unit == "KB" || unit == "KIB") {
    mult = 1024.0;
  } else if (unit == "M" || unit == "MB" || unit == "MIB") {
    mult = 1024.0 * 1024;
  } else if (unit == "G" || unit == "GB" || unit == "GIB") {
    mult = 1024.0 * 1024 * 1024;
  } else if (unit == "T" || unit == "TB" || unit == "TIB") {
    mult = 1024.0 * 1024 * 1024 * 1024;
  } else {
    throwUsage(field + " '" + clipForMessage(text) + "' has an unknown unit (use K, M, G or T)");
  }
  const double bytes = *v * mult;
  if (bytes < 1 || bytes > static_cast<double>(kMaxMemoryBytes))
    throwUsage(field + " '" + clipForMessage(text) + "' is out of range" + range);
  return static_cast<int64_t>(bytes);
}

}  // namespace fl
