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
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/io/pickle.h"
#include "core/io/safetensors.h"
#include "core/io/zip_archive.h"

namespace fl {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throwInput(where + ": " + what);
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
            (k.kind == PickleValue::Kind::String ? "'" + std::string(k.text) + "'" : std::to_string(k.integer));
  }
  if (root.entries.size() > 6) keys += ", ...";
  for (const auto& [k, v] : root.entries) {
    if (k->kind != PickleValue::Kind::String) {
      return "expected a dict of name -> tensor (a state_dict), found a " + root.typeName() +
             " with a non-string key " + std::to_string(k->integer) + " (keys: " + keys + ")";
    }
    if (v->kind != PickleValue::Kind::Tensor) {
      return "expected a dict of name -> tensor (a state_dict), found a " + root.typeName() +
             " whose value for '" + std::string(k->text) + "' is a " + v->typeName() + " (keys: " + keys +
             "); if this is a training checkpoint, save model.state_dict() on its own";
    }
  }
  return "unexpected content";
}

PickleTree readTorchPickle(const std::string& path) {
  ZipArchive zip = ZipArchive::open(path);
  // The pickle sits at "<folder>/data.pkl"; the folder is "archive" or the file stem.
  const ZipEntry* pkl = nullptr;
  bool torchScript = false;
  for (const ZipEntry& e : zip.entries()) {
    const size_t slash = e.name.find('/');
    if (slash == std::string::npos) continue;
    const std::string_view rest = e.name.substr(slash + 1);
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
  const std::string prefix(pkl->name.substr(0, pkl->name.size() - std::strlen("data.pkl")));
  if (const ZipEntry* order = zip.find(prefix + "byteorder")) {
    const std::vector<uint8_t> bytes = zip.read(*order);
    if (std::string(bytes.begin(), bytes.end()) != "little")
      fail(path, "was saved on a big-endian machine (byteorder 'big' is not supported)");
  }
  const std::vector<uint8_t> pickle = zip.read(*pkl);

  std::string name;  // reused: one heap string per storage showed in large checkpoints
  const PickleStorageLoader loader = [&](const PickleStorageRef& ref) {
    name.assign(prefix).append("data/").append(ref.key);
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
    // The entry's sizes against the file before the allocation: a deflated entry may claim
    // far more than its bytes can inflate to (found by fuzz_checkpoint: 1 GiB from 64 bytes).
    const uint64_t start = zip.checkEntry(*entry);
    at::Tensor storage = emptyCpuTensor({ref.numel}, ref.dtype);
    zip.readCheckedInto(*entry, start, storage.data_ptr(), need);
    if (ref.dtype == at::kBool) {
      const auto* b = static_cast<const uint8_t*>(storage.data_ptr());
      for (uint64_t i = 0; i < need; ++i)
        if (b[i] > 1) fail(path, "entry '" + name + "' is a bool storage holding other bytes");
    }
    return storage;
  };
  return unpickle(pickle.data(), pickle.size(), path, loader);
}

NamedTensors readTorchZip(const std::string& path) {
  const PickleTree root = readTorchPickle(path);

  bool flat = root->kind == PickleValue::Kind::Dict;
  if (flat) {
    for (const auto& [k, v] : root->entries)
      flat = flat && k->kind == PickleValue::Kind::String && v->kind == PickleValue::Kind::Tensor;
  }
  if (!flat) fail(path, describeNonStateDict(*root));
  NamedTensors out;
  out.reserve(root->entries.size());
  for (const auto& [k, v] : root->entries) out.emplace_back(std::string(k->text), v->tensor);
  return out;
}

bool isTorchZip(const std::string& path) {
  uint8_t head[16] = {};
  size_t got = 0;
  {
    const InputFile in(path);  // regular files only
    got = size_t(std::min<uint64_t>(sizeof head, in.size()));
    in.readAt(0, head, got);
  }

  if (looksLikeZip(head, got)) return true;
  const std::string ext = lowerExtension(path);
  // safetensors: 8-byte little-endian header length, then a JSON object.
  if (ext == ".safetensors" || (got >= 9 && head[8] == '{')) return false;
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

/// `parent.key`, or the key alone at the root: built once per tensor, in one string.
std::string childPath(const std::string& parent, const PickleValue& k) {
  const std::string key = k.kind == PickleValue::Kind::String ? std::string() : std::to_string(k.integer);
  const std::string_view text = k.kind == PickleValue::Kind::String ? k.text : std::string_view(key);
  if (parent.empty()) return std::string(text);
  std::string path;
  path.reserve(parent.size() + 1 + text.size());
  return path.append(parent).append(1, '.').append(text);
}

std::string joinPath(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

/// Dotted paths longer than this are not followed (real ones are under 200 characters):
/// through the memo, a pickle can nest one long key hundreds of times, and every path on
/// the way down would hold a copy of all of it.
constexpr size_t kMaxPathChars = 1024;
/// Checkpoint::skipped lists at most this many leaves, then how many more there are.
constexpr size_t kMaxSkippedListed = 1000;

struct Flattener {
  Checkpoint& out;
  std::set<const PickleValue*> seen;
  size_t unlisted = 0;  ///< skipped leaves beyond kMaxSkippedListed

  void skip(const std::string& what) {
    if (out.skipped.size() < kMaxSkippedListed)
      out.skipped.push_back(what);
    else
      ++unlisted;
  }

  void visit(const PickleValue& v, std::string path) {  // by value: a tensor's name moves in
    using K = PickleValue::Kind;
    if (path.size() > kMaxPathChars) {
      skip(path.substr(0, 60) + "... (a path longer than " + std::to_string(kMaxPathChars) +
           " characters, not followed)");
      return;
    }
    switch (v.kind) {
      case K::Tensor: out.tensors.emplace_back(std::move(path), v.tensor); return;
      case K::Dict:
        if (!seen.insert(&v).second) return;  // shared subtree: named once
        for (const auto& [k, item] : v.entries) {
          if (k->kind != K::String && k->kind != K::Int) {
            skip(joinPath(path, "<" + k->typeName() + " key>") + " (" + item->typeName() + ")");
            continue;
          }
          visit(*item, childPath(path, *k));
        }
        return;
      case K::List:
      case K::Tuple:
        if (!seen.insert(&v).second) return;
        for (size_t i = 0; i < v.items.size(); ++i)
          visit(*v.items[i], joinPath(path, std::to_string(i)));
        return;
      default: skip((path.empty() ? "(root)" : path) + " (" + v.typeName() + ")");
    }
  }
};

size_t commonDots(const std::string& p) { return size_t(std::count(p.begin(), p.end(), '.')); }

bool endsWithAtDot(const std::string& text, const std::string& tail) {
  if (tail.empty()) return text.empty();
  if (text.size() < tail.size() || text.compare(text.size() - tail.size(), tail.size(), tail))
    return false;
  return text.size() == tail.size() || text[text.size() - tail.size() - 1] == '.';
}

/// Rank of a prefix's leading container among the well-known ones (lower wins).
size_t containerRank(const std::string& prefix) {
  static const std::vector<std::string> kOrder = {"params_ema", "params", "state_dict",
                                                  "model_state_dict", "model", "net",
                                                  "network", "ema"};
  const std::string first = prefix.substr(0, prefix.find('.'));
  const auto it = std::find(kOrder.begin(), kOrder.end(), first);
  return it == kOrder.end() ? kOrder.size() : size_t(it - kOrder.begin());
}

std::string quotedList(const std::vector<std::string>& items, size_t max = 8) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < max; ++i) s += (i ? ", '" : "'") + items[i] + "'";
  if (items.size() > max) s += ", ... (" + std::to_string(items.size() - max) + " more)";
  return s;
}

}  // namespace

NamedTensors readStateDict(const std::string& path) {
  return isTorchZip(path) ? readTorchZip(path) : readSafetensors(path);
}

Checkpoint flattenCheckpoint(const PickleValue& root, const std::string& where) {
  Checkpoint cp;
  cp.path = where;
  cp.format = "torch.save";
  cp.rootType = root.typeName();
  Flattener flat{cp, {}, 0};
  flat.visit(root, "");
  if (flat.unlisted) {
    cp.skipped.push_back("... and " + std::to_string(flat.unlisted) +
                         " more non-tensor entries (not listed)");
  }
  return cp;
}

Checkpoint readCheckpoint(const std::string& path) {
  if (isTorchZip(path)) {
    const PickleTree root = readTorchPickle(path);
    return flattenCheckpoint(*root, path);
  }
  Checkpoint cp;
  cp.path = path;
  cp.format = "safetensors";
  cp.rootType = "dict";
  cp.tensors = readSafetensors(path);
  return cp;
}

ModuleState extractModuleState(const NamedTensors& tensors,
                               const std::vector<std::string>& moduleKeys,
                               const std::optional<std::string>& prefix,
                               const std::string& where) {
  std::optional<std::string> wanted = prefix;
  if (wanted && *wanted == ".") wanted = std::string();
  if (wanted && !wanted->empty() && wanted->back() != '.') *wanted += '.';

  // Candidate prefixes: every P with P + moduleKey a file key, P empty or ending in '.'.
  // Looked up by string_view: copying the rest of a name at each of its dots would make
  // a file of long many-dotted names quadratic.
  const std::set<std::string, std::less<>> keys(moduleKeys.begin(), moduleKeys.end());
  std::map<std::string, std::set<std::string>> candidates;  // prefix -> module keys found
  for (const auto& [name, t] : tensors) {
    if (keys.count(name)) candidates[""].insert(name);
    const std::string_view view(name);
    for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
      const auto it = keys.find(view.substr(dot + 1));
      if (it != keys.end()) candidates[name.substr(0, dot + 1)].insert(*it);
    }
  }
  std::vector<std::string> allowed;
  for (const auto& [p, found] : candidates) {
    if (!wanted || (wanted->empty() ? p.empty() : endsWithAtDot(p, *wanted))) allowed.push_back(p);
  }

  ModuleState out;
  std::vector<std::string> full;
  for (const auto& p : allowed)
    if (candidates[p].size() == keys.size()) full.push_back(p);

  if (keys.empty()) {
    out.prefix = wanted.value_or("");
  } else if (full.size() == 1) {
    out.prefix = full.front();
  } else if (full.size() > 1) {
    std::vector<std::string> best;
    size_t bestRank = SIZE_MAX;
    for (const auto& p : full) {
      const size_t r = containerRank(p);
      if (r < bestRank) best.clear(), bestRank = r;
      if (r == bestRank) best.push_back(p);
    }
    if (best.size() != 1 || bestRank == containerRank("")) {
      throw Error(ErrorKind::Weights,
                  where + ": the module's " + std::to_string(keys.size()) +
                      " tensors are found under several prefixes: " + quotedList(full),
                  fileSubject(where), fixBy(FixAction::ChoosePrefix));
    }
    out.prefix = best.front();
    std::vector<std::string> others;
    for (const auto& p : full)
      if (p != out.prefix) others.push_back(p);
    out.notes.push_back("the module's tensors are also under " + quotedList(others) +
                        "; took '" + out.prefix + "', the first of the usual containers (another can be named as the weights prefix)");
  } else {
    // Nothing holds every key: take the candidate holding most, so the strict load says
    // exactly which keys are missing and which are unexpected.
    const std::string* best = nullptr;
    for (const auto& p : allowed) {
      if (!best || candidates[p].size() > candidates[*best].size() ||
          (candidates[p].size() == candidates[*best].size() && commonDots(p) < commonDots(*best)))
        best = &p;
    }
    if (best) {
      out.prefix = *best;
    } else if (wanted && wanted->empty()) {
      out.prefix = "";  // the root, as asked: the strict load reports what is (not) there
    } else if (wanted) {
      // No module key under it: still take the (unique) place the prefix names, so the
      // strict load reports what is there instead of what is not.
      // Two places already make it ambiguous; a few more make a useful message. Stopping
      // there keeps a file of many names repeating the prefix from filling memory.
      constexpr size_t kPlacesListed = 8;
      std::set<std::string> places;
      bool more = false;
      for (const auto& [name, t] : tensors) {
        for (size_t pos = name.find(*wanted); pos != std::string::npos && !more;
             pos = name.find(*wanted, pos + 1)) {
          if (pos != 0 && name[pos - 1] != '.') continue;
          places.insert(name.substr(0, pos + wanted->size()));
          more = places.size() > kPlacesListed;
        }
        if (more) break;
      }
      if (places.size() > 1) {
        std::vector<std::string> listed(places.begin(), places.end());
        listed.resize(std::min(listed.size(), kPlacesListed));
        throw Error(ErrorKind::Weights,
                    where + ": the weights prefix '" + *wanted + "' fits several places: " +
                        quotedList(listed) + (more ? ", ..." : "") + "; a longer prefix picks one",
                    fileSubject(where), fixBy(FixAction::ChoosePrefix));
      }
      if (places.empty()) {
        std::set<std::string> tops;
        for (const auto& [name, t] : tensors) tops.insert(name.substr(0, name.find('.') + 1));
        throw Error(ErrorKind::Weights,
                    where + ": no tensor name starts with '" + *wanted +
                        "' (the file's names start with " +
                        quotedList(std::vector<std::string>(tops.begin(), tops.end())) + ")",
                    fileSubject(where), fixBy(FixAction::InspectWeights));
      }
      out.prefix = *places.begin();
    } else {
      std::vector<std::string> names;
      for (const auto& [name, t] : tensors) names.push_back(name);
      throw Error(ErrorKind::Weights,
                  where + ": none of the module's " + std::to_string(keys.size()) +
                      " tensor names (e.g. '" + moduleKeys.front() +
                      "') appear in the file under any prefix; the file holds " +
                      (names.empty() ? std::string("no tensors") : quotedList(names, 4)),
                  fileSubject(where), fixBy(FixAction::InspectWeights));
    }
  }

  size_t ignored = 0;
  std::map<std::string, size_t> converted;
  for (const auto& [name, t] : tensors) {
    if (name.rfind(out.prefix, 0) != 0 || name.size() == out.prefix.size()) {
      ++ignored;
      continue;
    }
    out.state.emplace_back(name.substr(out.prefix.size()), t);
    if (t.defined() && keys.count(out.state.back().first) && t.is_floating_point() &&
        t.scalar_type() != at::kFloat)
      ++converted[std::string(c10::toString(t.scalar_type()))];
  }
  if (!out.prefix.empty()) {
    std::string how = "took the module's tensors from under '" + out.prefix + "'";
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot = out.prefix.find('.'); dot != std::string::npos;
         dot = out.prefix.find('.', start)) {
      parts.push_back(out.prefix.substr(start, dot - start));
      start = dot + 1;
    }
    std::vector<std::string> kinds;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (i == 0 && containerRank(parts[i] + ".") < containerRank(""))
        kinds.push_back("nested checkpoint '" + parts[i] + "'");
      else if (parts[i] == "module")
        kinds.push_back("DataParallel 'module.'");
    }
    if (!kinds.empty()) {
      how += " (";
      for (size_t i = 0; i < kinds.size(); ++i) how += (i ? ", " : "") + kinds[i];
      how += ")";
    }
    out.notes.insert(out.notes.begin(), how);
  }
  if (ignored) {
    out.notes.push_back("ignored " + std::to_string(ignored) + " other tensor" +
                        (ignored == 1 ? "" : "s") + " in the file");
  }
  for (const auto& [dtype, n] : converted) {
    out.notes.push_back("converted " + std::to_string(n) + " " + dtype + " tensor" +
                        (n == 1 ? "" : "s") + " to Float");
  }
  return out;
}

std::vector<std::string> moduleStateKeys(const torch::nn::Module& module) {
  std::vector<std::string> keys;
  for (const auto& [name, t] : moduleStateDict(module)) keys.push_back(name);
  return keys;
}

WeightsReport loadCheckpointTensors(torch::nn::Module& module, const NamedTensors& tensors,
                                    const std::optional<std::string>& prefix, const std::string& where) {
  ModuleState ms = extractModuleState(tensors, moduleStateKeys(module), prefix, where);
  const std::string at = ms.prefix.empty() ? where : where + " (tensors under '" + ms.prefix + "')";
  WeightsReport report = loadStateDict(module, ms.state, at);
  report.prefix = ms.prefix;
  report.notes = std::move(ms.notes);
  return report;
}

WeightsReport loadCheckpoint(torch::nn::Module& module, const std::string& path,
                             const std::optional<std::string>& prefix) {
  return loadCheckpointTensors(module, readCheckpoint(path).tensors, prefix, path);
}

std::string WeightsReport::summary() const {
  if (ok()) return "";
  std::string s;
  auto section = [&](const char* title, const std::vector<std::string>& list) {
    if (list.empty()) return;
    if (!s.empty()) s += "; ";
    s += std::to_string(list.size()) + " " + title + ": ";
    for (size_t i = 0; i < list.size() && i < 10; ++i) s += (i ? ", " : "") + list[i];
    if (list.size() > 10) s += ", ... (" + std::to_string(list.size() - 10) + " more)";
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
  std::vector<StateKey> own;
  // Module tensors are real (float32, int64): a complex file tensor is a mismatch either way.
  for (const auto& [name, t] : moduleStateDict(module)) own.push_back({name, t.sizes().vec()});
  return matchStateKeys(own, state);
}

WeightsReport matchStateKeys(const std::vector<StateKey>& own, const NamedTensors& state) {
  WeightsReport report;
  // Views of the names in `own` and `state`, which outlive this function: a file of 100,000
  // tensors is not copied name by name into maps (and hashed, not sorted).
  std::unordered_map<std::string_view, const at::Tensor*> file;
  std::unordered_set<std::string_view> duplicated;
  for (const auto& [name, t] : state)
    if (!file.emplace(name, &t).second) duplicated.insert(name);

  std::unordered_set<std::string_view> known;
  for (const auto& [name, shape] : own) {
    known.insert(name);
    const at::IntArrayRef mine(shape);
    const auto it = file.find(name);
    if (it == file.end()) {
      report.missing.push_back(name + " " + shapeText(mine));
      continue;
    }
    const at::Tensor& theirs = *it->second;
    if (!theirs.defined()) {
      report.mismatched.push_back(name + ": file has no tensor vs module " + shapeText(mine));
    } else if (theirs.sizes() != mine) {
      report.mismatched.push_back(name + ": file " + shapeText(theirs.sizes()) + " vs module " +
                                  shapeText(mine));
    } else if (at::isComplexType(theirs.scalar_type())) {
      report.mismatched.push_back(name + ": file " +
                                  std::string(c10::toString(theirs.scalar_type())) + " vs a real module tensor");
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
  std::unordered_map<std::string_view, const at::Tensor*> file;
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
