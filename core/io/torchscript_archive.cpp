#include "core/io/torchscript_archive.h"

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/io/pickle.h"
#include "core/io/zip_archive.h"

namespace fl {
namespace {

/// The pickles TorchScript writes and the folder their storage records live in.
constexpr struct {
  const char* pickle;
  const char* folder;
} kPickles[] = {{"data.pkl", "data/"}, {"constants.pkl", "constants/"}};

/// A pickle is small next to its tensors; this is far above any real one.
constexpr uint64_t kMaxPickleBytes = uint64_t{256} << 20;

}  // namespace

void checkTorchScriptArchive(const std::string& path) {
  requireRegularFile(path);
  const ZipArchive zip = ZipArchive::open(path);
  // The archive's folder: "<name>/data.pkl" at the top level.
  std::string prefix;
  bool found = false;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash + 1, std::string::npos, "data.pkl") == 0) {
      prefix = e.name.substr(0, slash + 1);
      found = true;
      break;
    }
  }
  if (!found) throwInput("'" + path + "' is a zip archive without data.pkl (not a TorchScript model)");

  for (const auto& p : kPickles) {
    const ZipEntry* entry = zip.find(prefix + p.pickle);
    if (!entry) continue;  // constants.pkl is optional
    if (entry->uncompressedSize > kMaxPickleBytes) {
      throwInput("'" + path + "': " + std::string(entry->name) + " is " + std::to_string(entry->uncompressedSize) +
                 " bytes (more than " + std::to_string(kMaxPickleBytes) + ": not a TorchScript model?)");
    }
    const std::vector<uint8_t> pickle = zip.read(*entry);
    const std::string folder = prefix + p.folder;
    const std::string where = "'" + path + "' (" + std::string(entry->name) + ")";
    unpickleOpaque(pickle.data(), pickle.size(), where, [&](const PickleStorageRef& ref) {
      const std::string name = folder + ref.key;
      const ZipEntry* record = zip.find(name);
      if (!record) throwInput("'" + path + "': storage record '" + name + "' is missing (truncated or damaged archive)");
      const uint64_t need = uint64_t(ref.numel) * uint64_t(c10::elementSize(ref.dtype));
      if (record->uncompressedSize < need) {
        throwInput("'" + path + "': storage record '" + name + "' has " + std::to_string(record->uncompressedSize) +
                   " bytes but its tensors need " + std::to_string(need) + " (truncated or damaged archive)");
      }
      zip.checkEntry(*record);  // its data must also lie inside the file
      // Meta tensors: the walk needs the storage's size and type, never its memory.
      return at::empty({ref.numel}, at::TensorOptions().dtype(ref.dtype).device(at::kMeta));
    });
  }
}

}  // namespace fl
