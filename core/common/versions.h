#pragma once
/// Versions of the libraries FusionLens runs on, for About dialogs and --version.
#include <string>

namespace fl {

std::string fusionLensVersion();  ///< the project version, e.g. "0.1.0"
std::string libtorchVersion();  ///< e.g. "1.13.0"
std::string opencvVersion();    ///< e.g. "4.6.0"
std::string cudaStatus();       ///< "CUDA available (1 device)" or "CUDA not available (...)"
/// "BLAS: OpenBLAS 0.3.21 (OpenMP) (/usr/lib/...)": the BLAS this process runs on
/// (core/common/blas_info.h), with a warning when it is the slow reference BLAS.
std::string blasStatus();
/// CPU cores this process may run on (its affinity mask; at least 1): the default thread count.
int hardwareThreads();

}  // namespace fl
