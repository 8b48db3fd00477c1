#pragma once
/// Which BLAS LibTorch's matrix products run on, detected in the running process.
///
/// Debian's LibTorch links libblas.so.3, and the alternatives system decides at install time
/// whether that is the reference (netlib) BLAS or OpenBLAS: the same binary is 1.3-2x slower
/// on attention modules with the reference one. So the answer cannot be known at
/// build time; it is read from the process: the library that provides `sgemm_` (dladdr),
/// else the BLAS-like libraries mapped into it (/proc/self/maps).
#include <string>

namespace fl {

struct BlasInfo {
  /// "OpenBLAS 0.3.21 (OpenMP)", "reference BLAS (netlib)", "Intel MKL", "BLIS", ...;
  /// "unknown" when no BLAS library could be found in the process.
  std::string name;
  std::string library;     ///< real path of the library providing sgemm_ (or mapped), or ""
  bool reference = false;  ///< the unoptimised netlib reference BLAS: matrix products are slow
  bool known() const { return name != "unknown"; }
  /// One line for --version, About dialogs and bench output: "OpenBLAS ... (/usr/lib/...)".
  std::string summary() const;
};

/// Detects the BLAS in use by this process (computed once, then cached; thread-safe).
const BlasInfo& blasInfo();

/// Classifies a library path (exposed for tests): the name part of BlasInfo, or "unknown".
BlasInfo classifyBlasLibrary(const std::string& realPath);

}  // namespace fl
