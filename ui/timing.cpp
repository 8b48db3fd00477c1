#include "ui/timing.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace fl::ui {

bool timingEnabled() {
  static const bool on = [] {
    const char* v = std::getenv("FL_TIMING");
    return v && *v && *v != '0';
  }();
  return on;
}

void timingMark(const char* what) {
  if (!timingEnabled()) return;
  const long long ns = std::chrono::steady_clock::now().time_since_epoch().count();
  std::fprintf(stderr, "fl-timing %lld %s\n", ns, what);
}

}  // namespace fl::ui
