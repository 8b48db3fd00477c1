// libFuzzer target: whole torch.save checkpoints (core/io/state_dict.h): readCheckpoint(),
// the flat readStateDict(), the prefix search of extractModuleState() and a float32 copy of
// every tensor, i.e. what `run --weights`, `run --input x.pt` and `inspect` do.
//
// Input, first byte odd: the rest is the file as is (zip structure, storage entries, CRCs).
// First byte even: the harness writes a valid STORED archive around a fuzzed pickle, so
// mutations of the pickle are not all stopped by the CRC check:
//   byte 1: n (mod 17) storages; then n little-endian uint32 storage byte sizes (each capped
//   at 1 MiB); the rest is archive/data.pkl. archive/data/<i> holds sizes[i] bytes of 0/1
//   (0x00/0xFF alternating when bit 1 of byte 0 is set: NaNs and non-bool bytes);
//   archive/byteorder is "little" ("big" when bit 2 is set).
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/io/state_dict.h"
#include "fuzz_support.h"

namespace {

void put16(std::vector<uint8_t>& out, uint32_t v) {
  out.push_back(uint8_t(v));
  out.push_back(uint8_t(v >> 8));
}
void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, v & 0xFFFF);
  put16(out, v >> 16);
}

/// A minimal STORED zip of (name, bytes) entries, as torch.save writes them.
std::vector<uint8_t> storedZip(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& files) {
  std::vector<uint8_t> out, cd;
  for (const auto& [name, bytes] : files) {
    const uint32_t crc = uint32_t(crc32(0L, bytes.data(), uInt(bytes.size())));
    const uint32_t offset = uint32_t(out.size());
    put32(out, 0x04034b50);
    put16(out, 20), put16(out, 0), put16(out, 0), put16(out, 0), put16(out, 0);
    put32(out, crc), put32(out, uint32_t(bytes.size())), put32(out, uint32_t(bytes.size()));
    put16(out, uint16_t(name.size())), put16(out, 0);
    out.insert(out.end(), name.begin(), name.end());
    out.insert(out.end(), bytes.begin(), bytes.end());
    put32(cd, 0x02014b50);
    put16(cd, 20), put16(cd, 20), put16(cd, 0), put16(cd, 0), put16(cd, 0), put16(cd, 0);
    put32(cd, crc), put32(cd, uint32_t(bytes.size())), put32(cd, uint32_t(bytes.size()));
    put16(cd, uint16_t(name.size())), put16(cd, 0), put16(cd, 0), put16(cd, 0), put16(cd, 0);
    put32(cd, 0), put32(cd, offset);
    cd.insert(cd.end(), name.begin(), name.end());
  }
  const uint32_t cdOffset = uint32_t(out.size());
  out.insert(out.end(), cd.begin(), cd.end());
  put32(out, 0x06054b50);
  put16(out, 0), put16(out, 0), put16(out, uint16_t(files.size())), put16(out, uint16_t(files.size()));
  put32(out, uint32_t(cd.size())), put32(out, cdOffset), put16(out, 0);
  return out;
}

/// The archive for an even first byte (see the top of the file), or nothing when the
/// input is too short to describe one.
std::optional<std::vector<uint8_t>> wrap(const uint8_t* data, size_t size) {
  if (size < 2) return std::nullopt;
  const uint8_t mode = data[0];
  const size_t n = data[1] % 17;
  size_t pos = 2;
  if (size < pos + 4 * n) return std::nullopt;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> files;
  std::vector<uint32_t> sizes;
  for (size_t i = 0; i < n; ++i, pos += 4) {
    const uint32_t s = uint32_t(data[pos]) | (uint32_t(data[pos + 1]) << 8) |
                       (uint32_t(data[pos + 2]) << 16) | (uint32_t(data[pos + 3]) << 24);
    sizes.push_back(s > (1u << 20) ? (1u << 20) : s);
  }
  files.emplace_back("archive/data.pkl", std::vector<uint8_t>(data + pos, data + size));
  const std::string order = (mode & 4) ? "big" : "little";
  files.emplace_back("archive/byteorder", std::vector<uint8_t>(order.begin(), order.end()));
  for (size_t i = 0; i < n; ++i) {
    std::vector<uint8_t> bytes(sizes[i]);
    for (size_t j = 0; j < bytes.size(); ++j)
      bytes[j] = (mode & 2) ? ((j & 1) ? 0xFF : 0x00) : uint8_t(j & 1);
    files.emplace_back("archive/data/" + std::to_string(i), std::move(bytes));
  }
  return storedZip(files);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string path = fl::fuzz::scratchPath(".pt");
  if (data[0] & 1) {
    fl::fuzz::writeFile(path, data + 1, size - 1);
  } else {
    const auto zip = wrap(data, size);
    if (!zip) return 0;
    fl::fuzz::writeFile(path, zip->data(), zip->size());
  }
  try {
    const fl::Checkpoint cp = fl::readCheckpoint(path);
    fl::fuzz::consume(cp.tensors);
    // A module with nested and indexed names; automatic and explicit prefixes.
    static const std::vector<std::string> kKeys = {"weight", "bias", "conv.weight",
                                                   "fc.0.bias", "bn.running_mean"};
    for (const std::optional<std::string>& prefix :
         {std::optional<std::string>(), std::optional<std::string>("module."),
          std::optional<std::string>("")}) {
      try {
        fl::extractModuleState(cp.tensors, kKeys, prefix, path);
      } catch (const fl::Error&) {
      }
    }
  } catch (const fl::Error&) {
  }
  try {
    fl::fuzz::consume(fl::readStateDict(path));
  } catch (const fl::Error&) {
  }
  return 0;
}
