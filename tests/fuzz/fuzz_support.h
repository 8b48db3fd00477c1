#pragma once
// Helpers shared by the libFuzzer targets: a per-process scratch file for the readers that
// take a path, and what a consumer does with the tensors a reader returns.
#include <ATen/ATen.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/io/tensor_io.h"

namespace fl::fuzz {

/// `<scratch dir>/fuzz<ext>`: the scratch directory is made once per process (libFuzzer's
/// -jobs run several) under $TMPDIR or /tmp, and removed at exit.
inline std::string scratchPath(const std::string& ext) {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/fl_fuzz_XXXXXX";
    if (!mkdtemp(pattern.data())) {
      std::perror("mkdtemp");
      std::abort();
    }
    static std::string forExit;
    forExit = pattern;
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(forExit, ec);
    });
    return pattern;
  }();
  return dir + "/fuzz" + ext;
}

/// Writes `data` to `path`; aborts when it cannot (a broken harness, not a finding).
inline void writeFile(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::perror(path.c_str());
    std::abort();
  }
}

/// What the CLI does with an input tensor (tensor_file.cpp: readInputTensor): a contiguous
/// float32 copy. A reader that returns a view describing more elements than its file holds
/// (zero strides, absurd sizes) shows up here as an allocation above -malloc_limit_mb.
inline void consume(const NamedTensors& tensors) {
  for (const auto& [name, t] : tensors) {
    if (!t.defined()) continue;
    const at::Tensor c = t.to(at::kFloat).contiguous();
    if (c.numel() > 0) (void)c.sum().item<float>();
  }
}

}  // namespace fl::fuzz
