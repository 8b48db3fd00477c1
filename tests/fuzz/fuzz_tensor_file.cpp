// libFuzzer target: the file-based readers as the CLI calls them (core/io/tensor_file.h).
// The first input byte picks the file's extension, the rest is the file; then
// readTensorFile() (what `inspect` lists) and readInputTensor() (what `run --input` takes,
// converted to float32) must each give tensors or an fl::Error.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/common/error.h"
#include "core/io/tensor_file.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const char* const kExtensions[] = {".npy", ".npz", ".safetensors", ".pt"};
  if (size < 1) return 0;
  const std::string path = fl::fuzz::scratchPath(kExtensions[data[0] % 4]);
  fl::fuzz::writeFile(path, data + 1, size - 1);
  try {
    fl::fuzz::consume(fl::readTensorFile(path));
  } catch (const fl::Error&) {
  }
  try {
    fl::fuzz::consume({{"input", fl::readInputTensor(path)}});
  } catch (const fl::Error&) {
  }
  return 0;
}
