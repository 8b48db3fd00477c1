#pragma once
// Internal to core/io/ (and its tests): not part of the core's public headers.
/// NumPy .npz archives (np.savez, np.savez_compressed): a zip of .npy files, STORED or
/// DEFLATE, read through ZipArchive (sizes checked against the file, CRC verified, zip-bomb
/// guards) and parseNpy().
#include <string>
#include <vector>

#include "core/io/tensor_io.h"

namespace fl {

/// The array names of an .npz file ("x" for the entry "x.npy"), in archive order.
/// Throws fl::Error(Input) naming the file and the problem.
std::vector<std::string> listNpz(const std::string& path);

/// One array by name (as listNpz() gives it). Throws fl::Error(Input) when absent,
/// listing the names the file has.
at::Tensor readNpzArray(const std::string& path, const std::string& name);

/// Every array, in archive order.
NamedTensors readNpz(const std::string& path);

}  // namespace fl
