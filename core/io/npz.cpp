#include "core/io/npz.h"

#include "core/common/error.h"
#include "core/io/npy.h"
#include "core/io/zip_archive.h"

namespace fl {

namespace {

/// Entries that are arrays: "NAME.npy" -> "NAME". Anything else in the archive is refused
/// (an .npz only ever holds .npy files).
std::vector<std::pair<std::string, const ZipEntry*>> arrays(const ZipArchive& zip) {
  std::vector<std::pair<std::string, const ZipEntry*>> out;
  for (const ZipEntry& e : zip.entries()) {
    if (e.name.size() > 4 && e.name.compare(e.name.size() - 4, 4, ".npy") == 0) {
      out.emplace_back(e.name.substr(0, e.name.size() - 4), &e);
    } else if (e.name.find("data.pkl") != std::string::npos) {
      throwInput(zip.where() + ": is a torch.save archive, not an .npz (name it .pt)");
    } else {
      throwInput(zip.where() + ": entry '" + std::string(e.name) + "' is not an .npy array; not an .npz file");
    }
  }
  if (out.empty()) throwInput(zip.where() + ": .npz archive holds no arrays");
  return out;
}

at::Tensor readEntry(const ZipArchive& zip, const std::string& name, const ZipEntry& e) {
  const std::vector<uint8_t> bytes = zip.read(e);
  return parseNpy(bytes.data(), bytes.size(), zip.where() + ":" + name);
}

}  // namespace

std::vector<std::string> listNpz(const std::string& path) {
  const ZipArchive zip = ZipArchive::open(path);
  std::vector<std::string> names;
  for (const auto& [name, e] : arrays(zip)) names.push_back(name);
  return names;
}

at::Tensor readNpzArray(const std::string& path, const std::string& name) {
  const ZipArchive zip = ZipArchive::open(path);
  std::string names;
  for (const auto& [n, e] : arrays(zip)) {
    if (n == name) return readEntry(zip, n, *e);
    names += (names.empty() ? "" : ", ") + n;
  }
  throwInput(path + ": has no array named '" + name + "' (arrays: " + names + ")");
}

NamedTensors readNpz(const std::string& path) {
  const ZipArchive zip = ZipArchive::open(path);
  NamedTensors out;
  for (const auto& [name, e] : arrays(zip)) out.emplace_back(name, readEntry(zip, name, *e));
  return out;
}

}  // namespace fl
