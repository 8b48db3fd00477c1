#pragma once
/// SHA-256 (FIPS 180-4) of files, for figure specs and sessions: a figure records the hash of
/// every input and weights file so that a re-render can tell when a file changed.
#include <cstdint>
#include <string>

namespace fl {

/// Lower-case hex SHA-256 of `size` bytes at `data`.
std::string sha256Hex(const void* data, size_t size);

/// Lower-case hex SHA-256 of a file's bytes, read in 1 MiB blocks. Throws fl::Error(Input)
/// naming the file when it cannot be read.
std::string sha256File(const std::string& path);

}  // namespace fl
