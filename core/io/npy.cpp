#include "core/io/npy.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <vector>

#include "core/common/error.h"
#include "core/common/file_io.h"
#include "core/io/byte_order.h"

namespace fl {

namespace {

using byte_order::byteSwap;
using byte_order::hostIsLittleEndian;

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
/// A header longer than this is not a real .npy header (numpy itself caps at ~10 KB).
constexpr uint64_t kMaxHeaderBytes = uint64_t{1} << 20;
constexpr int64_t kMaxDims = 64;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throwInput(where + ": " + what);
}

struct NpyDtype {
  at::ScalarType type;
  size_t itemSize;
  const char* descr;  ///< little-endian descr written by writeNpy
  bool isUnsigned = false;  ///< u2/u4/u8: read as the signed type, widened after (below)
};

/// Maps the kind+size part of a descr ('f4', 'i8', 'b1', ...) to a torch dtype.
bool dtypeFromCode(const std::string& code, NpyDtype& out) {
  static const NpyDtype kTable[] = {
      {at::kFloat, 4, "f4"}, {at::kDouble, 8, "f8"}, {at::kHalf, 2, "f2"},
      {at::kChar, 1, "i1"},  {at::kShort, 2, "i2"},  {at::kInt, 4, "i4"},
      {at::kLong, 8, "i8"},  {at::kByte, 1, "u1"},   {at::kBool, 1, "b1"},
      // LibTorch 1.13 has no uint16/32/64: widened to int32, int64 and float64.
      {at::kShort, 2, "u2", true}, {at::kInt, 4, "u4", true}, {at::kLong, 8, "u8", true},
  };
  for (const auto& d : kTable) {
    if (code == d.descr) {
      out = d;
      return true;
    }
  }
  return false;
}

/// Parses the Python dict literal of a .npy header, e.g.
/// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& where) : s_(text), where_(where) {}

  void parse(std::string& descr, bool& fortran, std::vector<int64_t>& shape) {
    bool haveDescr = false, haveOrder = false, haveShape = false;
    skipSpace();
    expect('{');
    while (true) {
      skipSpace();
      if (peek() == '}') break;
      const std::string key = quoted();
      skipSpace();
      expect(':');
      skipSpace();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          bad("'descr' must be a simple type string (structured dtypes are not supported)");
        descr = quoted();
        haveDescr = true;
      } else if (key == "fortran_order") {
        fortran = boolean();
        haveOrder = true;
      } else if (key == "shape") {
        shape = tuple();
        haveShape = true;
      } else {
        bad("unknown header key '" + key + "'");
      }
      skipSpace();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skipSpace();
      if (peek() != '}') bad("expected ',' or '}'");
    }
    if (!haveDescr || !haveOrder || !haveShape)
      bad("header lacks one of 'descr', 'fortran_order', 'shape'");
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skipSpace() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n')) ++i_;
  }
  [[noreturn]] void bad(const std::string& what) {
    fail(where_, "malformed .npy header (" + what + ")");
  }
  void expect(char c) {
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++i_;
  }
  std::string quoted() {
    const char q = peek();
    if (q != '\'' && q != '"') bad("expected a quoted string");
    ++i_;
    const size_t end = s_.find(q, i_);
    if (end == std::string::npos) bad("unterminated string");
    std::string out = s_.substr(i_, end - i_);
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    bad("expected True or False");
  }
  std::vector<int64_t> tuple() {
    std::vector<int64_t> dims;
    expect('(');
    while (true) {
      skipSpace();
      if (peek() == ')') {
        ++i_;
        return dims;
      }
      if (peek() < '0' || peek() > '9') bad("shape must be a tuple of non-negative integers");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) bad("dimension too large");
        v = v * 10 + digit;
        ++i_;
      }
      if (peek() == 'L') ++i_;  // Python 2 longs
      dims.push_back(v);
      if (int64_t(dims.size()) > kMaxDims) bad("more than 64 dimensions");
      skipSpace();
      if (peek() == ',')
        ++i_;
      else if (peek() != ')')
        bad("expected ',' or ')' in shape");
    }
  }

  const std::string& s_;
  const std::string& where_;
  size_t i_ = 0;
};

using ReadAt = std::function<void(uint64_t offset, void* dst, size_t n)>;

/// Shared by readNpy (file) and parseNpy (memory): `read` fetches bytes already range-checked
/// against `total`.
at::Tensor decode(uint64_t total, const ReadAt& read, const std::string& where) {
  if (total < kMagicSize + 2) fail(where, "not a .npy file (too short)");
  uint8_t pre[kMagicSize + 6] = {};
  read(0, pre, size_t(std::min<uint64_t>(total, sizeof pre)));
  if (std::memcmp(pre, kMagic, kMagicSize) != 0) fail(where, "not a .npy file (bad magic)");
  const int major = pre[6], minor = pre[7];
  // numpy itself reads only 1.0, 2.0 and 3.0 (numpy.lib.format._check_version).
  if (minor != 0 || major < 1 || major > 3) {
    fail(where, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
                    " (numpy writes and reads 1.0, 2.0 and 3.0)");
  }
  uint64_t headerLen = 0, headerStart = 0;
  if (major == 1) {
    if (total < 10) fail(where, "truncated .npy header");
    headerLen = uint64_t(pre[8]) | (uint64_t(pre[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (total < 12) fail(where, "truncated .npy header");
    headerLen = uint64_t(pre[8]) | (uint64_t(pre[9]) << 8) | (uint64_t(pre[10]) << 16) |
                (uint64_t(pre[11]) << 24);
    headerStart = 12;
  } else {
    fail(where,
         "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor));
  }
  if (headerLen > kMaxHeaderBytes) {
    fail(where, "header claims " + std::to_string(headerLen) + " bytes (implausible)");
  }
  if (headerStart + headerLen > total) {
    fail(where, "header ends at byte " + std::to_string(headerStart + headerLen) +
                    " beyond the file (" + std::to_string(total) + " bytes)");
  }
  std::string header(headerLen, '\0');
  read(headerStart, header.data(), header.size());

  std::string descr;
  bool fortran = false;
  std::vector<int64_t> shape;
  HeaderParser(header, where).parse(descr, fortran, shape);

  if (descr.size() < 2) fail(where, "unsupported dtype '" + descr + "'");
  const char order = descr[0];
  std::string code = descr.substr(1);
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    // numpy always writes a byte-order character; tolerate its absence for 1-byte types.
    code = descr;
  }
  NpyDtype dtype;
  if (!dtypeFromCode(code, dtype)) {
    fail(where, "unsupported dtype '" + descr +
                    "' (supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool)");
  }
  const bool bigEndian = order == '>' && dtype.itemSize > 1;

  // LibTorch multiplies the sizes in int64 in any order, so the product of the non-zero
  // ones must fit even when a zero makes the array empty (found by fuzz_npy: a c10::Error).
  uint64_t extent = 1;
  bool empty = false;
  for (const int64_t d : shape) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (extent > uint64_t(std::numeric_limits<int64_t>::max()) / uint64_t(d))
      fail(where, "shape has too many elements");
    extent *= uint64_t(d);
  }
  const uint64_t numel = empty ? 0 : extent;
  const uint64_t dataStart = headerStart + headerLen;
  const uint64_t available = total - dataStart;
  const bool overflow = numel > std::numeric_limits<uint64_t>::max() / dtype.itemSize;
  if (overflow || numel * dtype.itemSize != available) {
    std::string shapeText;
    for (size_t i = 0; i < shape.size(); ++i)
      shapeText += (i ? ", " : "") + std::to_string(shape[i]);
    fail(where,
         "shape (" + shapeText + ") of '" + descr + "' needs " +
             (overflow ? std::string("more than 2^64") : std::to_string(numel * dtype.itemSize)) +
             " bytes but the file holds " + std::to_string(available) + " data bytes");
  }

  // Fortran order is C order of the reversed shape, transposed back.
  std::vector<int64_t> storageShape = shape;
  if (fortran) std::reverse(storageShape.begin(), storageShape.end());
  at::Tensor t = emptyCpuTensor(storageShape, dtype.type);
  read(dataStart, t.data_ptr(), size_t(numel * dtype.itemSize));
  if (bigEndian == hostIsLittleEndian() && dtype.itemSize > 1) {
    byteSwap(static_cast<uint8_t*>(t.data_ptr()), size_t(numel), dtype.itemSize);
  }
  if (dtype.type == at::kBool) {
    // numpy bools are 0/1 bytes; anything else would be undefined behaviour in torch.
    const auto* b = static_cast<const uint8_t*>(t.data_ptr());
    for (uint64_t i = 0; i < numel; ++i)
      if (b[i] > 1) fail(where, "bool array holds a byte other than 0 or 1");
  }
  if (dtype.isUnsigned) {
    if (dtype.itemSize == 2) {
      t = t.to(at::kInt).bitwise_and(0xFFFF);
    } else if (dtype.itemSize == 4) {
      t = t.to(at::kLong).bitwise_and(int64_t{0xFFFFFFFF});
    } else {
      at::Tensor d = t.to(at::kDouble);
      t = at::where(t.lt(0), d + 18446744073709551616.0, d);
    }
  }
  if (fortran && shape.size() > 1) {
    std::vector<int64_t> perm(shape.size());
    for (size_t i = 0; i < perm.size(); ++i) perm[i] = int64_t(perm.size() - 1 - i);
    t = t.permute(perm).contiguous();
  }
  return t;
}

}  // namespace

at::Tensor parseNpy(const uint8_t* data, size_t size, const std::string& where) {
  return decode(
      size,
      [data](uint64_t off, void* dst, size_t n) {
        // An empty tensor's data_ptr() is null, and memcpy(nullptr, ..., 0) is undefined.
        if (n) std::memcpy(dst, data + off, n);
      },
      where);
}

at::Tensor readNpy(const std::string& path) {
  const InputFile in(path);  // regular files only; reads stay inside the size seen at open
  return decode(
      in.size(), [&](uint64_t off, void* dst, size_t n) { in.readAt(off, dst, n); }, path);
}

void writeNpy(const std::string& path, const at::Tensor& tensor) {
  if (!tensor.defined()) throwUsage(path + ": cannot write an undefined tensor");
  const at::Tensor t = tensor.to(at::kCPU).contiguous();
  std::string code;
  switch (t.scalar_type()) {
    case at::kFloat:
      code = "<f4";
      break;
    case at::kDouble:
      code = "<f8";
      break;
    case at::kHalf:
      code = "<f2";
      break;
    case at::kChar:
      code = "|i1";
      break;
    case at::kShort:
      code = "<i2";
      break;
    case at::kInt:
      code = "<i4";
      break;
    case at::kLong:
      code = "<i8";
      break;
    case at::kByte:
      code = "|u1";
      break;
    case at::kBool:
      code = "|b1";
      break;
    default:
      throwInput(path + ": .npy cannot hold dtype " + std::string(c10::toString(t.scalar_type())) +
                 " (convert to float32 first)");
  }
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) {
    shape += std::to_string(t.size(i));
    if (t.dim() == 1 || i + 1 < t.dim()) shape += ",";
    if (i + 1 < t.dim()) shape += " ";
  }
  shape += ")";
  std::string header =
      "{'descr': '" + code + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so the data starts 64-byte aligned, as numpy does; newline last.
  size_t prefix = 10;
  if (header.size() + 1 + prefix > 0xFFFF) prefix = 12;
  const size_t padded = ((prefix + header.size() + 1 + 63) / 64) * 64;
  header.append(padded - prefix - header.size() - 1, ' ');
  header.push_back('\n');

  std::vector<uint8_t> head(kMagic, kMagic + kMagicSize);
  const uint64_t len = header.size();
  if (prefix == 10) {
    head.insert(head.end(), {1, 0, uint8_t(len & 0xFF), uint8_t(len >> 8)});
  } else {
    head.insert(head.end(), {2, 0, uint8_t(len & 0xFF), uint8_t((len >> 8) & 0xFF),
                             uint8_t((len >> 16) & 0xFF), uint8_t((len >> 24) & 0xFF)});
  }

  const size_t bytes = size_t(t.numel()) * t.element_size();
  const auto* raw = static_cast<const uint8_t*>(t.data_ptr());
  std::vector<uint8_t> swapped;  // only on a big-endian host
  if (!hostIsLittleEndian() && t.element_size() > 1) {
    swapped.assign(raw, raw + bytes);
    byteSwap(swapped.data(), size_t(t.numel()), t.element_size());
    raw = swapped.data();
  }

  writeFileAtomically(path, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(head.data()), std::streamsize(head.size()));
    out.write(header.data(), std::streamsize(header.size()));
    out.write(reinterpret_cast<const char*>(raw), std::streamsize(bytes));
  });
}

}  // namespace fl
