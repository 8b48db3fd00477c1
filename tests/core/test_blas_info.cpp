// Run-time BLAS detection: --version, the About dialog and bench show it.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <fstream>
#include <string>

#include "core/common/blas_info.h"
#include "core/common/versions.h"

namespace {

/// The BLAS-like libraries /proc/self/maps shows in this (LibTorch-linked) test process.
std::string mappedLibraries() {
  std::ifstream maps("/proc/self/maps");
  std::string line, all;
  while (std::getline(maps, line)) {
    const auto slash = line.find('/');
    if (slash != std::string::npos && line.find("blas", slash) != std::string::npos) {
      all += line.substr(slash) + "\n";
    }
  }
  return all;
}

TEST(BlasInfo, NamesTheBlasMappedIntoTheProcess) {
  at::mm(at::ones({4, 4}), at::ones({4, 4}));  // LibTorch's BLAS is loaded and used
  const std::string mapped = mappedLibraries();
  const fl::BlasInfo& info = fl::blasInfo();
  ASSERT_FALSE(mapped.empty()) << "no BLAS library is mapped into a LibTorch process?";
  EXPECT_TRUE(info.known()) << "mapped:\n" << mapped;
  EXPECT_FALSE(info.library.empty());
  EXPECT_NE(mapped.find(info.library), std::string::npos)
      << info.library << " is not among the mapped libraries:\n" << mapped;
  if (mapped.find("openblas") != std::string::npos) {
    EXPECT_NE(info.name.find("OpenBLAS"), std::string::npos) << info.summary() << "\n" << mapped;
    EXPECT_FALSE(info.reference);
  }
  const std::string status = fl::blasStatus();
  EXPECT_EQ(status.rfind("BLAS: ", 0), 0u) << status;
  EXPECT_EQ(status.find("unknown"), std::string::npos) << status;
}

TEST(BlasInfo, ClassifiesDebianLibraryPaths) {
  const auto ref = fl::classifyBlasLibrary("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0");
  EXPECT_TRUE(ref.reference);
  EXPECT_NE(ref.name.find("reference"), std::string::npos);
  const auto open = fl::classifyBlasLibrary("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3");
  EXPECT_FALSE(open.reference);
  EXPECT_EQ(open.name, "OpenBLAS");
  EXPECT_FALSE(fl::classifyBlasLibrary("/usr/lib/libtorch_cpu.so").known());
}

}  // namespace
