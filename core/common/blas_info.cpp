#include "core/common/blas_info.h"

#include <dlfcn.h>

#include <cstdlib>
#include <fstream>
#include <string>

namespace fl {

namespace {

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

std::string realPath(const char* path) {
  char* resolved = ::realpath(path, nullptr);
  if (!resolved) return path;
  std::string out(resolved);
  std::free(resolved);
  return out;
}

/// OpenBLAS's own description of itself, when its symbols are in the process.
std::string openblasDetails() {
  using ConfigFn = char* (*)();
  using ParallelFn = int (*)();
  std::string out = "OpenBLAS";
  if (auto config = reinterpret_cast<ConfigFn>(::dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64": keep name and version
    const std::string text = config();
    if (text.rfind("OpenBLAS ", 0) == 0) {
      const auto end = text.find(' ', 9);
      out = text.substr(0, end);
    }
  }
  if (auto parallel = reinterpret_cast<ParallelFn>(::dlsym(RTLD_DEFAULT, "openblas_get_parallel"))) {
    const int p = parallel();  // 0 sequential, 1 pthreads, 2 OpenMP
    out += p == 2 ? " (OpenMP)" : p == 1 ? " (pthreads)" : " (sequential)";
  }
  return out;
}

/// The first BLAS-like library mapped into this process, by /proc/self/maps (used when the
/// library providing sgemm_ cannot be named, e.g. a BLAS linked statically into LibTorch).
std::string mappedBlasLibrary() {
  std::ifstream maps("/proc/self/maps");
  std::string line, fallback;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    if (contains(path, "openblas") || contains(path, "libmkl") || contains(path, "blis") ||
        contains(path, "atlas")) {
      return path;
    }
    if (fallback.empty() && contains(path, "/libblas.so")) fallback = path;
  }
  return fallback;
}

BlasInfo detect() {
  BlasInfo info;
  // The sgemm_ this process resolves is the one LibTorch's (Fortran-ABI) BLAS calls go to.
  if (void* sym = ::dlsym(RTLD_DEFAULT, "sgemm_")) {
    Dl_info where{};
    if (::dladdr(sym, &where) != 0 && where.dli_fname) {
      info = classifyBlasLibrary(realPath(where.dli_fname));
    }
  }
  if (!info.known()) {
    const std::string mapped = mappedBlasLibrary();
    if (!mapped.empty()) info = classifyBlasLibrary(mapped);
  }
  if (contains(info.name, "OpenBLAS")) info.name = openblasDetails();
  return info;
}

}  // namespace

BlasInfo classifyBlasLibrary(const std::string& path) {
  BlasInfo info;
  info.library = path;
  if (contains(path, "openblas")) {
    info.name = "OpenBLAS";
  } else if (contains(path, "libmkl")) {
    info.name = "Intel MKL";
  } else if (contains(path, "blis")) {
    info.name = "BLIS";
  } else if (contains(path, "atlas")) {
    info.name = "ATLAS";
  } else if (contains(path, "/blas/libblas") || contains(path, "/libblas.so")) {
    // Debian's netlib package installs /usr/lib/<triplet>/blas/libblas.so.3; the optimised
    // ones above carry their name in their directory or file name.
    info.name = "reference BLAS (netlib)";
    info.reference = true;
  } else {
    info.name = "unknown";
    info.library.clear();
  }
  return info;
}

std::string BlasInfo::summary() const {
  if (!known()) return "unknown (no BLAS library found in the process)";
  return name + " (" + library + ")";
}

const BlasInfo& blasInfo() {
  static const BlasInfo info = detect();  // thread-safe static initialisation
  return info;
}

}  // namespace fl
