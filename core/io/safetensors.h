#pragma once
/// The safetensors format: 8-byte little-endian header length, JSON header, raw data.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "core/io/tensor_io.h"

namespace fl {

/// Reads every tensor (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL) in data order (the order of their bytes:
/// the writer's order). As the safetensors library, the tensors' byte ranges must cover the data
/// exactly: gaps and bytes after the last tensor are refused.
/// Throws fl::Error(Input) naming the file and the problem; validates offsets against the
/// file before allocating.
NamedTensors readSafetensors(const std::string& path);
NamedTensors parseSafetensors(const uint8_t* data, size_t size, const std::string& where);

/// Writes tensors (moved to CPU, made contiguous) with optional string metadata.
/// Written atomically (temporary file + rename).
void writeSafetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace fl
