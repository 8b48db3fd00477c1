#pragma once
/// Common types of the tensor readers.
#include <ATen/EmptyTensor.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace fl {

/// Tensors by name, in file order (a state_dict, a .safetensors file, an .npz archive).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

/// An uninitialised contiguous CPU tensor, allocated straight from the CPU allocator rather
/// than through the operator dispatcher: readers make one per stored tensor, and a file may
/// hold 100,000 (the dispatcher showed up as a large share of reading them in perf).
inline at::Tensor emptyCpuTensor(at::IntArrayRef shape, at::ScalarType type) {
  return at::Tensor(at::detail::empty_cpu(shape, type));
}

/// A shape in messages and reports: "[1, 64, 32, 32]".
inline std::string shapeText(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

/// The compact form of one-line statistics and reduction errors: "[1,64,32,32]".
inline std::string compactShapeText(const at::Tensor& t) {
  std::string s = shapeText(t.sizes());
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  return s;
}

}  // namespace fl
