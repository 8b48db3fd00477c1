#pragma once
/// NumPy .npy files (format versions 1.0, 2.0, 3.0).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/io/tensor_io.h"

namespace fl {

/// Reads a .npy file into a contiguous CPU tensor of the file's dtype (float32, float64,
/// float16, int8..int64, uint8, bool; uint16/32/64 widened to int32/int64/float64); C and
/// Fortran order; little- and big-endian.
/// Throws fl::Error(Input) naming the file and the problem; checks every size against the
/// file before allocating.
at::Tensor readNpy(const std::string& path);

/// Same, from memory. `where` names the source in error messages.
at::Tensor parseNpy(const uint8_t* data, size_t size, const std::string& where);

/// Writes a tensor (any supported dtype, any device) as a C-order little-endian .npy v1.0.
void writeNpy(const std::string& path, const at::Tensor& tensor);

}  // namespace fl
