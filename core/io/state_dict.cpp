#include "core/io/state_dict.h"

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

#include "core/common/error.h"
#include "core/io/pickle.h"
#include "core/io/safetensors.h"
#include "core/io/zip_archive.h"

namespace fl {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throwInput(where + ": " + what);
}

std::string shapeText(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

std::string lowerExtension(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  for (char& c : ext) c = char(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

const char* kResave =
    "re-save it with PyTorch >= 1.6: torch.save(sd, path) (or torch.save(sd, path, "
    "_use_new_zipfile_serialization=True))";

/// Describes what a torch.save pickle holds when it is not a flat name -> tensor dict.
std::string describeNonStateDict(const PickleValue& root) {
  if (root.kind != PickleValue::Kind::Dict) {
    return "expected a dict of name -> tensor (a state_dict), found a " + root.typeName();
  }
  std::string keys;
  for (size_t i = 0; i < root.entries.size() && i < 6; ++i) {
    const auto& k = *root.entries[i].first;
    keys += (i ? ", " : "") +
            (k.kind == PickleValue::Kind::String ? "'" + k.text + "'" : std::to_string(k.integer));
  }
  if (root.entries.size() > 6) keys += ", ...";
  for (const auto& [k, v] : root.entries) {
    if (k->kind != PickleValue::Kind::String) {
      return "expected a dict of name -> tensor (a state_dict), found a " + root.typeName() +
             " with a non-string key " + std::to_string(k->integer) + " (keys: " + keys + ")";
    }
    if (v->kind != PickleValue::Kind::Tensor) {
      return "expected a dict of name -> tensor (a state_dict), found a " + root.typeName() +
             " whose value for '" + k->text + "' is a " + v->typeName() + " (keys: " + keys +
             "); if this is a training checkpoint, save model.state_dict() on its own";
    }
  }
  return "unexpected content";
}

NamedTensors readTorchZip(const std::string& path) {
  ZipArchive zip = ZipArchive::open(path);
  // The pickle sits at "<folder>/data.pkl"; the folder is "archive" or the file stem.
  const ZipEntry* pkl = nullptr;
  bool torchScript = false;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash == std::string::npos) continue;
    const std::string rest = e.name.substr(slash + 1);
    if (rest == "data.pkl") {
      if (pkl) fail(path, "archive holds more than one data.pkl");
      pkl = &e;
    }
    if (rest == "constants.pkl" || rest.rfind("code/", 0) == 0) torchScript = true;
  }
  if (torchScript) {
    fail(path,
         "is a TorchScript archive (torch.jit.save); save the weights with "
         "torch.save(model.state_dict(), path) instead");
  }
  if (!pkl) {
    fail(path,
         "zip archive without '<name>/data.pkl': not a torch.save file (an .npz? use "
         "the tensor file reader)");
  }
  const std::string prefix = pkl->name.substr(0, pkl->name.size() - std::strlen("data.pkl"));
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const std::vector<uint8_t> bytes = zip.read(*order);
    if (std::string(bytes.begin(), bytes.end()) != "little")
      fail(path, "was saved on a big-endian machine (byteorder 'big' is not supported)");
  }
  const std::vector<uint8_t> pickle = zip.read(*pkl);

  const PickleStorageLoader loader = [&](const PickleStorageRef& ref) {
    const std::string name = prefix + "data/" + ref.key;
    const ZipEntry* entry = zip.find(name);
    if (!entry) fail(path, "storage entry '" + name + "' is missing from the archive");
    const uint64_t itemSize = c10::elementSize(ref.dtype);
    const uint64_t need = uint64_t(ref.numel) * itemSize;
    if (uint64_t(ref.numel) > UINT64_MAX / itemSize || entry->uncompressedSize != need) {
      fail(path, "entry '" + name + "' holds " + std::to_string(entry->uncompressedSize) +
                     " bytes but the pickle describes " + std::to_string(ref.numel) + " " +
                     std::string(c10::toString(ref.dtype)) + " elements (" + std::to_string(need) +
                     " bytes)");
    }
    if (need > zip.maxEntryBytes()) {
      fail(path, "entry '" + name + "' would decompress to " + std::to_string(need) +
                     " bytes, more than the limit of " + std::to_string(zip.maxEntryBytes()) +
                     " bytes (zip-bomb guard)");
    }
    at::Tensor storage = at::empty({ref.numel}, at::TensorOptions().dtype(ref.dtype));
    zip.readInto(*entry, storage.data_ptr(), need);
    if (ref.dtype == at::kBool) {
      const auto* b = static_cast<const uint8_t*>(storage.data_ptr());
      for (uint64_t i = 0; i < need; ++i)
        if (b[i] > 1) fail(path, "entry '" + name + "' is a bool storage holding other bytes");
    }
    return storage;
  };
  const PickleValuePtr root = unpickle(pickle.data(), pickle.size(), path, loader);

  bool flat = root->kind == PickleValue::Kind::Dict;
  if (flat) {
    for (const auto& [k, v] : root->entries)
      flat = flat && k->kind == PickleValue::Kind::String && v->kind == PickleValue::Kind::Tensor;
  }
  if (!flat) fail(path, describeNonStateDict(*root));
  NamedTensors out;
  out.reserve(root->entries.size());
  for (const auto& [k, v] : root->entries) out.emplace_back(k->text, v->tensor);
  return out;
}

}  // namespace

NamedTensors readStateDict(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open the file for reading");
  uint8_t head[16] = {};
  in.read(reinterpret_cast<char*>(head), sizeof head);
  const size_t got = size_t(in.gcount());
  in.close();

  if (looksLikeZip(head, got)) return readTorchZip(path);
  const std::string ext = lowerExtension(path);
  // safetensors: 8-byte little-endian header length, then a JSON object.
  if (ext == ".safetensors" || (got >= 9 && head[8] == '{')) return readSafetensors(path);
  if (got >= 2 && head[0] == 0x80 && head[1] <= 5) {
    // The pre-1.6 format is a bare pickle stream starting with a magic number.
    fail(path,
         "uses PyTorch's legacy (pre-1.6, non-zip) torch.save format, which is not "
         "supported; " +
             std::string(kResave));
  }
  if (got == 0) fail(path, "is empty");
  fail(path,
       "is neither a torch.save zip archive nor a .safetensors file (unrecognised "
       "content)");
}

std::string WeightsReport::summary() const {
  if (ok()) return "";
  std::string s;
  auto section = [&](const char* title, const std::vector<std::string>& list) {
    if (list.empty()) return;
    if (!s.empty()) s += "; ";
    s += std::to_string(list.size()) + " " + title + ": ";
    for (size_t i = 0; i < list.size(); ++i) s += (i ? ", " : "") + list[i];
  };
  section("missing", missing);
  section("unexpected", unexpected);
  section("mismatched", mismatched);
  return s;
}

NamedTensors moduleStateDict(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& item : module.named_parameters(/*recurse=*/true))
    if (item.value().defined()) out.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true))
    if (item.value().defined()) out.emplace_back(item.key(), item.value());
  return out;
}

WeightsReport matchStateDict(const torch::nn::Module& module, const NamedTensors& state) {
  WeightsReport report;
  const NamedTensors own = moduleStateDict(module);
  std::unordered_map<std::string, const at::Tensor*> file;
  std::set<std::string> duplicated;
  for (const auto& [name, t] : state)
    if (!file.emplace(name, &t).second) duplicated.insert(name);

  std::set<std::string> known;
  for (const auto& [name, mine] : own) {
    known.insert(name);
    const auto it = file.find(name);
    if (it == file.end()) {
      report.missing.push_back(name + " " + shapeText(mine.sizes()));
      continue;
    }
    const at::Tensor& theirs = *it->second;
    if (!theirs.defined()) {
      report.mismatched.push_back(name + ": file has no tensor vs module " +
                                  shapeText(mine.sizes()));
    } else if (theirs.sizes() != mine.sizes()) {
      report.mismatched.push_back(name + ": file " + shapeText(theirs.sizes()) + " vs module " +
                                  shapeText(mine.sizes()));
    } else if (at::isComplexType(theirs.scalar_type()) != at::isComplexType(mine.scalar_type())) {
      report.mismatched.push_back(name + ": file " +
                                  std::string(c10::toString(theirs.scalar_type())) + " vs module " +
                                  std::string(c10::toString(mine.scalar_type())));
    } else if (duplicated.count(name)) {
      report.mismatched.push_back(name + ": appears more than once in the file");
    } else {
      report.matched.push_back(name);
    }
  }
  for (const auto& [name, t] : state) {
    if (known.count(name)) continue;
    known.insert(name);  // report a repeated unexpected key once
    report.unexpected.push_back(name + " " + (t.defined() ? shapeText(t.sizes()) : "[?]"));
  }
  return report;
}

WeightsReport loadStateDict(torch::nn::Module& module, const NamedTensors& state,
                            const std::string& where) {
  WeightsReport report = matchStateDict(module, state);
  if (!report.ok()) {
    throw Error(ErrorKind::Weights,
                where + ": the state_dict does not match the module: " + report.summary());
  }
  std::unordered_map<std::string, const at::Tensor*> file;
  for (const auto& [name, t] : state) file.emplace(name, &t);
  torch::NoGradGuard noGrad;
  // Everything was checked above, so a copy cannot fail half-way for a reason we can see.
  for (auto& [name, mine] : moduleStateDict(module)) {
    at::Tensor target = mine;
    target.copy_(*file.at(name));
  }
  return report;
}

}  // namespace fl
