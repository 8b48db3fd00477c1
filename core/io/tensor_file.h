#pragma once
/// Opening input tensors for a module: .npy and .safetensors, any of [H,W], [C,H,W] or
/// [B,C,H,W], returned as NCHW float32.
#include <ATen/core/Tensor.h>

#include <string>

namespace fl {

/// `spec` is a path, optionally followed by ":NAME" to pick one tensor of a
/// .safetensors file that holds several. Returns a contiguous CPU float32 [B,C,H,W]
/// tensor. Throws fl::Error(Input) naming the file and the problem.
at::Tensor readInputTensor(const std::string& spec);

/// [H,W] -> [1,1,H,W], [C,H,W] -> [1,C,H,W], [B,C,H,W] unchanged; anything else throws.
at::Tensor toNchw(const at::Tensor& t, const std::string& where);

}  // namespace fl
