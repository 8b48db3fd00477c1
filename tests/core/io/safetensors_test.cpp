#include "core/io/safetensors.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io_test_support.h"

namespace fl {
namespace {

using test::errorOf;
using test::TempDir;

NamedTensors everyDtype() {
  const at::Tensor base = at::arange(12, at::kLong).reshape({3, 4}) - 5;
  return {
      {"f64", base.to(at::kDouble) / 3},
      {"f32", base.to(at::kFloat) * 0.5},
      {"f16", base.to(at::kHalf)},
      {"bf16", base.to(at::kBFloat16) * 2},
      {"i64", base * int64_t{1000000000000}},
      {"i32", base.to(at::kInt)},
      {"i16", base.to(at::kShort)},
      {"i8", base.to(at::kChar)},
      {"u8", (base + 5).to(at::kByte)},
      {"bool", base > 0},
      {"scalar", at::scalar_tensor(7.5, at::kFloat)},
      {"empty", at::zeros({0, 4})},
  };
}

/// A safetensors image from a header text and data bytes.
std::vector<uint8_t> makeFile(const std::string& header, size_t dataBytes) {
  std::string out(8 + header.size() + dataBytes, '\0');
  for (size_t i = 0; i < 8; ++i) out[i] = char((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  out.replace(8, header.size(), header);
  return test::bytesOf(out);
}

TEST(Safetensors, RoundTripEveryDtypeWithMetadata) {
  TempDir dir;
  const NamedTensors in = everyDtype();
  const std::string path = dir.file("t.safetensors");
  writeSafetensors(path, in, {{"format", "pt"}, {"module", "ms-cam"}});
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  const NamedTensors out = readSafetensors(path);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].first, in[i].first);  // file order = the order we wrote
    EXPECT_EQ(out[i].second.scalar_type(), in[i].second.scalar_type()) << in[i].first;
    EXPECT_EQ(out[i].second.sizes(), in[i].second.sizes()) << in[i].first;
    EXPECT_TRUE(at::equal(out[i].second, in[i].second)) << in[i].first;
  }

  // The metadata is in the header, and the data section starts 8-byte aligned.
  const std::vector<uint8_t> bytes = test::readBytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | bytes[size_t(i)];
  EXPECT_EQ(n % 8, 0u);
  const auto header =
      nlohmann::json::parse(std::string(bytes.begin() + 8, bytes.begin() + 8 + long(n)));
  EXPECT_EQ(header["__metadata__"]["format"], "pt");
  EXPECT_EQ(header["__metadata__"]["module"], "ms-cam");
  EXPECT_EQ(header["bf16"]["dtype"], "BF16");
  EXPECT_EQ(header["f32"]["shape"], nlohmann::json({3, 4}));

  // Same through parseSafetensors.
  const NamedTensors mem = parseSafetensors(bytes.data(), bytes.size(), "mem");
  EXPECT_TRUE(at::equal(mem[3].second, in[3].second));
}

TEST(Safetensors, WriterMovesToCpuAndContiguous) {
  TempDir dir;
  const at::Tensor t = at::arange(6, at::kFloat).reshape({2, 3}).t();
  writeSafetensors(dir.file("t.safetensors"), {{"t", t}});
  const NamedTensors out = readSafetensors(dir.file("t.safetensors"));
  EXPECT_TRUE(at::equal(out[0].second, t));
  EXPECT_EQ(out[0].second[2][1].item<float>(), 5.0f);
}

TEST(Safetensors, WriterRefusesRepeatedOrReservedNames) {
  TempDir dir;
  std::string msg = errorOf(
      [&] {
        writeSafetensors(dir.file("x.safetensors"), {{"a", at::ones({1})}, {"a", at::ones({1})}});
      },
      ErrorKind::Usage);
  EXPECT_NE(msg.find("'a' is repeated"), std::string::npos) << msg;
  msg = errorOf(
      [&] {
        writeSafetensors(dir.file("x.safetensors"), {{"__metadata__", at::ones({1})}});
      },
      ErrorKind::Usage);
  EXPECT_NE(msg.find("__metadata__"), std::string::npos) << msg;
}

// A file built by Python by the letter of the format (no safetensors package needed).
TEST(Safetensors, ReadsFileWrittenByPythonFromTheSpec) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import json, struct, torch
tensors = {
    'w': torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4,
    'bf': torch.tensor([1.5, -2.0, 3.25], dtype=torch.bfloat16),
    'n': torch.tensor([-(2**40), 5], dtype=torch.int64),
}
codes = {torch.float32: 'F32', torch.bfloat16: 'BF16', torch.int64: 'I64'}
header, blobs, off = {'__metadata__': {'source': 'python'}}, [], 0
for name, t in tensors.items():
    raw = t.contiguous().view(torch.uint8).numpy().tobytes()
    header[name] = {'dtype': codes[t.dtype], 'shape': list(t.shape),
                    'data_offsets': [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
h = json.dumps(header).encode()
h += b' ' * ((8 - len(h) % 8) % 8)
with open('py.safetensors', 'wb') as f:
    f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))
)PY"));
  const NamedTensors out = readSafetensors(dir.file("py.safetensors"));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].first, "w");
  EXPECT_TRUE(at::equal(out[0].second, at::arange(6, at::kFloat).reshape({2, 3}) / 4));
  EXPECT_EQ(out[1].first, "bf");
  EXPECT_EQ(out[1].second.scalar_type(), at::kBFloat16);
  EXPECT_EQ(out[1].second[2].item<float>(), 3.25f);
  EXPECT_EQ(out[2].second[0].item<int64_t>(), -(int64_t{1} << 40));
}

TEST(Safetensors, PythonReadsWhatWeWrite) {
  TempDir dir;
  writeSafetensors(dir.file("c.safetensors"),
                   {{"a", at::arange(6, at::kFloat).reshape({2, 3})},
                    {"b", at::tensor({1.5, -2.0}).to(at::kBFloat16)},
                    {"c", at::tensor({1, 0, 1}).to(at::kBool)}},
                   {{"k", "v"}});
  ASSERT_TRUE(test::runPython(dir, R"PY(
import json, struct, torch
data = open('c.safetensors', 'rb').read()
(n,) = struct.unpack('<Q', data[:8])
header = json.loads(data[8:8 + n])
assert header['__metadata__'] == {'k': 'v'}, header
body = data[8 + n:]
def get(name, dtype):
    info = header[name]
    b, e = info['data_offsets']
    return torch.frombuffer(bytearray(body[b:e]), dtype=dtype).reshape(info['shape'])
assert torch.equal(get('a', torch.float32), torch.arange(6.).reshape(2, 3))
assert torch.equal(get('b', torch.bfloat16), torch.tensor([1.5, -2.0], dtype=torch.bfloat16))
assert torch.equal(get('c', torch.bool), torch.tensor([True, False, True]))
assert header['b']['dtype'] == 'BF16' and header['c']['dtype'] == 'BOOL'
)PY"));
}

TEST(Safetensors, RejectsHostileOrBrokenFiles) {
  auto parse = [](const std::vector<uint8_t>& b) {
    return parseSafetensors(b.data(), b.size(), "w.safetensors");
  };
  // Header length beyond the file.
  std::vector<uint8_t> img = makeFile("{}", 0);
  img[0] = 0x00;
  img[1] = 0x10;  // 4096-byte header in a 10-byte file
  std::string msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("w.safetensors: header ends at byte 4104 beyond the file (10 bytes)"),
            std::string::npos)
      << msg;
  // Absurd header length.
  img = makeFile("{}", 0);
  img[7] = 0x7F;
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("more than 100 MB"), std::string::npos) << msg;
  // Data offsets past the end.
  img = makeFile(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("tensor 'a' ends at byte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("beyond the file"), std::string::npos) << msg;
  // Size that disagrees with the shape.
  img = makeFile(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("has 8 bytes of data but its shape and dtype F32 need 12"), std::string::npos)
      << msg;
  // Shape overflow.
  img = makeFile(
      R"({"a":{"dtype":"F64","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})",
      8);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("absurd shape"), std::string::npos) << msg;
  // Negative dimension, backwards offsets, unknown dtype, not JSON.
  img = makeFile(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 8);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("not a size"), std::string::npos) << msg;
  img = makeFile(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("run backwards"), std::string::npos) << msg;
  img = makeFile(R"({"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}})", 8);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("unsupported dtype 'C64'"), std::string::npos) << msg;
  img = makeFile("{not json", 8);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("not a JSON object"), std::string::npos) << msg;
  img = {1, 2, 3};
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("not a safetensors file"), std::string::npos) << msg;
}

// The header is read event by event (no JSON DOM), with a DOM's meaning: a repeated key's last
// value wins (the safetensors library's serde map does the same), unknown keys and any nesting
// inside them are ignored, and a value of the wrong JSON type is refused as before.
TEST(Safetensors, HeaderReadWithAJsonObjectsMeaning) {
  auto parse = [](const std::string& header, size_t data) {
    const std::vector<uint8_t> b = makeFile(header, data);
    return parseSafetensors(b.data(), b.size(), "h.safetensors");
  };
  // A repeated tensor name: the last description is the one read.
  NamedTensors t = parse(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", 4);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].second.scalar_type(), at::kByte);
  EXPECT_EQ(t[0].second.sizes(), at::IntArrayRef({4}));
  // A repeated field inside one description, unknown keys with nested values, metadata.
  t = parse(R"({"__metadata__":{"k":"v"},"b":{"x":{"y":[1,[2,{"z":3}]]},"dtype":"F64","shape":[9],)"
            R"("shape":[1],"data_offsets":[0,8],"more":[[],{}]}})", 8);
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].first, "b");
  EXPECT_EQ(t[0].second.scalar_type(), at::kDouble);
  EXPECT_EQ(t[0].second.sizes(), at::IntArrayRef({1}));
  // Empty tensors at one offset: ordered by name.
  t = parse(R"({"z":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"m":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
            R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].first, "m");
  EXPECT_EQ(t[1].first, "z");
  EXPECT_EQ(t[2].first, "a");
  // Wrong JSON types.
  const auto msgOf = [&](const std::string& header) { return errorOf([&] { parse(header, 4); }); };
  EXPECT_NE(msgOf(R"({"a":[1,2]})").find("tensor 'a' has no description object"), std::string::npos);
  EXPECT_NE(msgOf(R"({"a":{"dtype":5,"shape":[1],"data_offsets":[0,4]}})").find("lacks a valid"), std::string::npos);
  EXPECT_NE(msgOf(R"({"a":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})").find("lacks a valid"), std::string::npos);
  EXPECT_NE(msgOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})").find("lacks a valid"),
            std::string::npos);
  EXPECT_NE(msgOf(R"({"a":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}})").find("not a size"), std::string::npos);
  EXPECT_NE(msgOf(R"({"a":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})").find("not a size"), std::string::npos);
  EXPECT_NE(msgOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})").find("not sizes"), std::string::npos);
  EXPECT_NE(msgOf(R"({"__metadata__":[],"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})")
                .find("'__metadata__' is not an object"),
            std::string::npos);
  EXPECT_NE(msgOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} x)").find("not a JSON object"),
            std::string::npos);
  EXPECT_NE(msgOf(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})").find("not a JSON object"),
            std::string::npos);
}

}  // namespace
}  // namespace fl
