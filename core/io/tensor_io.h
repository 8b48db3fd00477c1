#pragma once
/// Common types of the tensor readers.
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace fl {

/// Tensors by name, in file order (a state_dict, a .safetensors file, an .npz archive).
using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

}  // namespace fl
