#include "core/io/safetensors.h"

#include <algorithm>
#include <tuple>

#include <ATen/ATen.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <vector>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/io/byte_order.h"

namespace fl {

namespace {

using byte_order::byteSwap;
using byte_order::hostIsLittleEndian;

using Json = nlohmann::ordered_json;  // the writer's header keeps the caller's order

/// One tensor's description, checked before any tensor is allocated.
struct Described {
  std::string name;
  at::ScalarType type = at::kFloat;
  std::vector<int64_t> shape;
  uint64_t numel = 0, begin = 0, end = 0;
};

/// The reference implementation refuses headers above 100 MB; so do we.
constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;
constexpr const char* kMetadataKey = "__metadata__";

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throwInput(where + ": " + what);
}

struct DtypeName {
  const char* name;
  at::ScalarType type;
};
constexpr DtypeName kDtypes[] = {
    {"F64", at::kDouble}, {"F32", at::kFloat}, {"F16", at::kHalf},  {"BF16", at::kBFloat16},
    {"I64", at::kLong},   {"I32", at::kInt},   {"I16", at::kShort}, {"I8", at::kChar},
    {"U8", at::kByte},    {"BOOL", at::kBool},
};

/// One header entry as written, before any check: fields that are missing or of the wrong
/// JSON type stay empty (decode() words the refusal).
struct RawTensor {
  std::string name;
  bool isObject = false;
  std::optional<std::string> dtype;
  /// Arrays of sizes: an element that is not a non-negative integer is nullopt.
  std::optional<std::vector<std::optional<uint64_t>>> shape, offsets;
};

/// Reads the header's JSON as events (nlohmann's SAX interface) into RawTensors. Keys and
/// values are taken as a DOM would keep them: a repeated key's last value wins (as the
/// safetensors library's serde map does), unknown keys are ignored.
class HeaderReader {
 public:
  using Json = nlohmann::json;
  std::vector<RawTensor> tensors;
  bool rootIsObject = false;
  bool metadataNotObject = false;

  bool null() { return value(Kind::Other); }
  bool boolean(bool) { return value(Kind::Other); }
  bool number_integer(Json::number_integer_t) { return value(Kind::Other); }
  bool number_unsigned(Json::number_unsigned_t v) { return value(Kind::Size, uint64_t(v)); }
  bool number_float(Json::number_float_t, const Json::string_t&) { return value(Kind::Other); }
  bool string(Json::string_t& text) { return value(Kind::String, 0, &text); }
  bool binary(Json::binary_t&) { return value(Kind::Other); }
  bool start_object(std::size_t) {
    if (level_ == Level::Top && skip_ == 0) {
      rootIsObject = true;
      level_ = Level::Root;
      return true;
    }
    return value(Kind::Object);
  }
  bool start_array(std::size_t) { return level_ == Level::Top && skip_ == 0 ? false : value(Kind::Array); }
  bool end_object() {
    if (skip_ > 0) return --skip_, true;
    level_ = level_ == Level::Tensor ? Level::Root : Level::Done;
    return true;
  }
  bool end_array() {
    if (skip_ > 0) return --skip_, true;
    level_ = Level::Tensor;  // only a shape or data_offsets array is ever entered
    return true;
  }
  bool key(Json::string_t& k) {
    if (skip_ > 0) return true;
    if (level_ == Level::Root) {
      key_ = std::move(k);
    } else if (level_ == Level::Tensor) {
      RawTensor& t = tensors.back();
      field_ = k == "dtype" ? &t.dtype : nullptr;
      array_ = k == "shape" ? &t.shape : k == "data_offsets" ? &t.offsets : nullptr;
      if (field_) field_->reset();  // a repeated key: the last value wins
      if (array_) array_->reset();
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  enum class Level { Top, Root, Tensor, Array, Done };
  enum class Kind { Other, Size, String, Object, Array };

  bool value(Kind kind, uint64_t size = 0, Json::string_t* text = nullptr) {
    const bool container = kind == Kind::Object || kind == Kind::Array;
    if (skip_ > 0) {
      if (container) ++skip_;
      return true;
    }
    bool entered = false;  // a container we read into rather than skip
    if (level_ == Level::Root) {
      if (key_ == kMetadataKey) {
        metadataNotObject = kind != Kind::Object;
      } else {
        tensors.push_back({std::move(key_), kind == Kind::Object, {}, {}, {}});
        if (kind == Kind::Object) entered = true, level_ = Level::Tensor;
      }
    } else if (level_ == Level::Tensor) {
      if (field_ && kind == Kind::String) *field_ = std::move(*text);
      if (array_ && kind == Kind::Array) {
        array_->emplace();
        entered = true;
        level_ = Level::Array;
      }
      field_ = nullptr;
    } else if (level_ == Level::Array) {
      (*array_)->push_back(kind == Kind::Size ? std::optional<uint64_t>(size) : std::nullopt);
    }
    if (container && !entered) skip_ = 1;
    return true;
  }

  Level level_ = Level::Top;
  int64_t skip_ = 0;  ///< depth inside a container whose content is not read
  std::string key_;   ///< the root's current key
  std::optional<std::string>* field_ = nullptr;  ///< the tensor's "dtype", while its value is due
  std::optional<std::vector<std::optional<uint64_t>>>* array_ = nullptr;  ///< its shape or data_offsets
};

using ReadAt = std::function<void(uint64_t offset, void* dst, size_t n)>;

/// A name given twice keeps its last description, as a JSON object read into a map does.
void dropRepeatedNames(std::vector<RawTensor>& tensors) {
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(tensors[a].name, a) < std::tie(tensors[b].name, b);
  });
  std::vector<bool> dropped(tensors.size(), false);
  bool any = false;
  for (size_t k = 0; k + 1 < order.size(); ++k) {
    if (tensors[order[k]].name == tensors[order[k + 1]].name) dropped[order[k]] = any = true;
  }
  if (!any) return;
  size_t kept = 0;
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!dropped[i]) tensors[kept++] = std::move(tensors[i]);
  tensors.resize(kept);
}

NamedTensors decode(uint64_t total, const ReadAt& read, const std::string& where) {
  if (total < 8) fail(where, "not a safetensors file (" + std::to_string(total) + " bytes)");
  uint8_t lenBytes[8];
  read(0, lenBytes, 8);
  uint64_t headerLen = 0;
  for (int i = 7; i >= 0; --i) headerLen = (headerLen << 8) | lenBytes[i];
  if (headerLen > kMaxHeaderBytes) {
    fail(where, "header claims " + std::to_string(headerLen) +
                    " bytes (more than 100 MB: not a safetensors file?)");
  }
  if (8 + headerLen > total) {
    fail(where, "header ends at byte " + std::to_string(8 + headerLen) + " beyond the file (" +
                    std::to_string(total) + " bytes)");
  }
  std::string text(headerLen, '\0');
  read(8, text.data(), text.size());
  // As the safetensors library: the header is a JSON object starting with '{'.
  if (text.empty() || text[0] != '{') fail(where, "header does not start with '{' (not a safetensors file?)");
  // Parsed event by event into one flat record per tensor: a DOM (nlohmann::json) would make
  // a map node and a value object for every key of every tensor, the most of the time spent
  // on a header of 100,000 tensors.
  HeaderReader reader;
  if (!nlohmann::json::sax_parse(text, &reader) || !reader.rootIsObject)
    fail(where, "header is not a JSON object (not a safetensors file?)");
  if (reader.metadataNotObject) fail(where, "'__metadata__' is not an object");
  dropRepeatedNames(reader.tensors);

  const uint64_t dataStart = 8 + headerLen;
  const uint64_t dataSize = total - dataStart;
  std::vector<Described> described;
  described.reserve(reader.tensors.size());
  for (RawTensor& raw : reader.tensors) {
    const std::string& name = raw.name;
    const auto what = [&name] { return "tensor '" + name + "'"; };  // built only for a message
    if (!raw.isObject) fail(where, what() + " has no description object");
    if (!raw.dtype || !raw.shape || !raw.offsets || raw.offsets->size() != 2) {
      fail(where, what() + " lacks a valid 'dtype', 'shape' or 'data_offsets'");
    }
    const std::string& dtypeName = *raw.dtype;
    at::ScalarType type = at::kFloat;
    bool known = false;
    for (const auto& d : kDtypes) {
      if (dtypeName == d.name) {
        type = d.type;
        known = true;
      }
    }
    if (!known) {
      fail(where, what() + " has unsupported dtype '" + dtypeName +
                      "' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    }
    // LibTorch multiplies the sizes in int64 in any order, so the product of the non-zero
    // ones must fit even when a zero makes the tensor empty.
    std::vector<int64_t> shape;
    shape.reserve(raw.shape->size());
    uint64_t extent = 1;
    bool empty = false;
    for (const std::optional<uint64_t>& d : *raw.shape) {
      if (!d) fail(where, what() + " has a shape entry that is not a size");
      const uint64_t v = *d;
      if (v != 0 && extent > uint64_t(std::numeric_limits<int64_t>::max()) / v)
        fail(where, what() + " has an absurd shape");
      if (v == 0)
        empty = true;
      else
        extent *= v;
      shape.push_back(int64_t(v));
    }
    const uint64_t numel = empty ? 0 : extent;
    if (!(*raw.offsets)[0] || !(*raw.offsets)[1]) fail(where, what() + " has data_offsets that are not sizes");
    const uint64_t begin = *(*raw.offsets)[0];
    const uint64_t end = *(*raw.offsets)[1];
    if (begin > end)
      fail(where, what() + " has data_offsets [" + std::to_string(begin) + ", " +
                      std::to_string(end) + "] that run backwards");
    if (end > dataSize) {
      fail(where, what() + " ends at byte " + std::to_string(dataStart + end) + " beyond the file (" +
                      std::to_string(total) + " bytes)");
    }
    const size_t itemSize = c10::elementSize(type);
    if (numel > std::numeric_limits<uint64_t>::max() / itemSize ||
        numel * itemSize != end - begin) {
      fail(where, what() + " has " + std::to_string(end - begin) + " bytes of data but its shape " +
                      "and dtype " + dtypeName + " need " +
                      (numel > std::numeric_limits<uint64_t>::max() / itemSize
                           ? std::string("more")
                           : std::to_string(numel * itemSize)));
    }
    described.push_back({std::move(raw.name), type, std::move(shape), numel, begin, end});
  }
  reader.tensors.clear();
  // The safetensors library's own rule (Metadata::validate): sorted by offset, the tensors'
  // byte ranges tile the data exactly, from 0 to the end of the file. Overlaps are forged
  // files; gaps and bytes after the last tensor are where a second format hides (polyglots).
  // Ties (empty tensors at one offset) by name, as the order of a name-keyed map had them.
  std::sort(described.begin(), described.end(), [](const Described& a, const Described& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t expected = 0;
  for (size_t i = 0; i < described.size(); ++i) {
    const Described& d = described[i];
    if (d.begin < expected) {
      fail(where, "tensors '" + described[i - 1].name + "' and '" + d.name + "' have overlapping data_offsets");
    }
    if (d.begin > expected) {
      fail(where, "tensor '" + d.name + "' starts at data byte " + std::to_string(d.begin) + " but the previous data ends at " +
                      std::to_string(expected) + " (unused bytes between tensors are not allowed)");
    }
    expected = d.end;
  }
  if (expected != dataSize) {
    fail(where, "has " + std::to_string(dataSize - expected) + " bytes after its last tensor's data (the safetensors format "
                "allows none)");
  }
  NamedTensors out;
  out.reserve(described.size());
  for (Described& d : described) {
    const size_t itemSize = c10::elementSize(d.type);
    at::Tensor t = emptyCpuTensor(d.shape, d.type);
    read(dataStart + d.begin, t.data_ptr(), size_t(d.end - d.begin));
    if (!hostIsLittleEndian() && itemSize > 1)
      byteSwap(static_cast<uint8_t*>(t.data_ptr()), size_t(d.numel), itemSize);
    if (d.type == at::kBool) {
      const auto* b = static_cast<const uint8_t*>(t.data_ptr());
      for (uint64_t k = 0; k < d.numel; ++k)
        if (b[k] > 1) fail(where, "tensor '" + d.name + "' is BOOL but holds a byte other than 0 or 1");
    }
    out.emplace_back(std::move(d.name), std::move(t));
  }
  return out;
}

}  // namespace

NamedTensors parseSafetensors(const uint8_t* data, size_t size, const std::string& where) {
  return decode(
      size,
      [data](uint64_t off, void* dst, size_t n) {
        // An empty tensor's data_ptr() is null, and memcpy(nullptr, ..., 0) is undefined.
        if (n) std::memcpy(dst, data + off, n);
      },
      where);
}

NamedTensors readSafetensors(const std::string& path) {
  // Regular files only; reads stay inside the size seen at open. Windowed: the tensors are
  // read in file order, and many small ones share a system call.
  WindowedInput in(path);
  return decode(
      in.size(), [&](uint64_t off, void* dst, size_t n) { in.readAt(off, dst, n); }, path);
}

void writeSafetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) {
    Json meta = Json::object();
    for (const auto& [k, v] : metadata) meta[k] = v;
    header[kMetadataKey] = std::move(meta);
  }
  std::vector<at::Tensor> cpu;
  cpu.reserve(tensors.size());
  std::set<std::string> seen;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name == kMetadataKey) throwUsage(path + ": '__metadata__' cannot name a tensor");
    if (!seen.insert(name).second) throwUsage(path + ": tensor name '" + name + "' is repeated");
    if (!tensor.defined()) throwUsage(path + ": tensor '" + name + "' is undefined");
    const char* dtypeName = nullptr;
    for (const auto& d : kDtypes)
      if (tensor.scalar_type() == d.type) dtypeName = d.name;
    if (!dtypeName) {
      throwInput(path + ": tensor '" + name + "' has dtype " +
                 std::string(c10::toString(tensor.scalar_type())) +
                 " which safetensors cannot hold here");
    }
    at::Tensor t = tensor.to(at::kCPU).contiguous();
    const uint64_t bytes = uint64_t(t.numel()) * t.element_size();
    header[name] = {{"dtype", dtypeName},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    cpu.push_back(std::move(t));
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the format wants the data 8-byte aligned
  uint8_t lenBytes[8];
  for (int i = 0; i < 8; ++i) lenBytes[i] = uint8_t((uint64_t(text.size()) >> (8 * i)) & 0xFF);

  writeFileAtomically(path, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(lenBytes), 8);
    out.write(text.data(), std::streamsize(text.size()));
    for (const at::Tensor& t : cpu) {
      const size_t bytes = size_t(t.numel()) * t.element_size();
      const auto* raw = static_cast<const uint8_t*>(t.data_ptr());
      std::vector<uint8_t> swapped;
      if (!hostIsLittleEndian() && t.element_size() > 1) {
        swapped.assign(raw, raw + bytes);
        byteSwap(swapped.data(), size_t(t.numel()), t.element_size());
        raw = swapped.data();
      }
      out.write(reinterpret_cast<const char*>(raw), std::streamsize(bytes));
    }
  });
}

}  // namespace fl
