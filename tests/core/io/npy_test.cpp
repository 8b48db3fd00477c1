#include "core/io/npy.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "io_test_support.h"

namespace fl {
namespace {

using test::errorOf;
using test::TempDir;

/// -7, -6, ..., 16 in shape [2, 3, 4], cast to `type` (bool: every third element true).
at::Tensor pattern(at::ScalarType type) {
  at::Tensor base = at::arange(24, at::kLong).reshape({2, 3, 4});
  if (type == at::kBool) return (base % 3) == 0;
  if (type == at::kByte) return base.to(type);
  return (base - 7).to(type);
}

const at::ScalarType kAllTypes[] = {at::kFloat, at::kDouble, at::kHalf, at::kChar, at::kShort,
                                    at::kInt,   at::kLong,   at::kByte, at::kBool};

/// A .npy image with the given header text (padded like numpy) and raw data.
std::vector<uint8_t> makeNpy(const std::string& header, const std::vector<uint8_t>& data,
                             int major = 1) {
  std::string h = header;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), 0};
  const size_t len = h.size();
  out.push_back(uint8_t(len & 0xFF));
  out.push_back(uint8_t(len >> 8));
  if (major != 1) {
    out.push_back(uint8_t(len >> 16));
    out.push_back(uint8_t(len >> 24));
  }
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

TEST(Npy, RoundTripEveryDtype) {
  TempDir dir;
  for (const at::ScalarType type : kAllTypes) {
    const at::Tensor t = pattern(type);
    const std::string path = dir.file(std::string(c10::toString(type)) + ".npy");
    writeNpy(path, t);
    const at::Tensor back = readNpy(path);
    EXPECT_EQ(back.scalar_type(), type) << c10::toString(type);
    EXPECT_EQ(back.sizes(), t.sizes()) << c10::toString(type);
    EXPECT_TRUE(at::equal(back, t)) << c10::toString(type);
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("Float.npy.tmp")));
}

TEST(Npy, RoundTripScalarEmptyAndNonContiguous) {
  TempDir dir;
  const at::Tensor scalar = at::scalar_tensor(2.5, at::kDouble);
  writeNpy(dir.file("s.npy"), scalar);
  const at::Tensor s = readNpy(dir.file("s.npy"));
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item<double>(), 2.5);

  writeNpy(dir.file("e.npy"), at::zeros({0, 3}));
  EXPECT_EQ(readNpy(dir.file("e.npy")).sizes(), (std::vector<int64_t>{0, 3}));

  const at::Tensor t = at::arange(12, at::kFloat).reshape({3, 4}).t();  // non-contiguous
  writeNpy(dir.file("t.npy"), t);
  const at::Tensor back = readNpy(dir.file("t.npy"));
  EXPECT_EQ(back.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(back[1][2].item<float>(), 9.0f);  // t[1][2] == original[2][1] == 9
}

TEST(Npy, WriteRefusesBFloat16) {
  TempDir dir;
  const std::string msg =
      errorOf([&] { writeNpy(dir.file("b.npy"), at::ones({2}, at::kBFloat16)); });
  EXPECT_NE(msg.find("BFloat16"), std::string::npos) << msg;
}

TEST(Npy, ReadsNumpyFilesEveryDtype) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import numpy as np
base = np.arange(24).reshape(2, 3, 4)
for name, dt in [('f4', np.float32), ('f8', np.float64), ('f2', np.float16), ('i1', np.int8),
                 ('i2', np.int16), ('i4', np.int32), ('i8', np.int64)]:
    np.save(name + '.npy', (base - 7).astype(dt))
np.save('u1.npy', base.astype(np.uint8))
np.save('b1.npy', base % 3 == 0)
np.save('u2.npy', base.astype(np.uint16))
np.save('c8.npy', base.astype(np.complex64))
)PY"));
  const std::pair<const char*, at::ScalarType> files[] = {
      {"f4", at::kFloat}, {"f8", at::kDouble}, {"f2", at::kHalf},
      {"i1", at::kChar},  {"i2", at::kShort},  {"i4", at::kInt},
      {"i8", at::kLong},  {"u1", at::kByte},   {"b1", at::kBool}};
  for (const auto& [name, type] : files) {
    const at::Tensor t = readNpy(dir.file(std::string(name) + ".npy"));
    EXPECT_EQ(t.scalar_type(), type) << name;
    EXPECT_TRUE(at::equal(t, pattern(type))) << name << "\n" << t;
  }
  // uint16 has no LibTorch dtype: widened to int32 (tensor_file_test.cpp checks values).
  EXPECT_EQ(readNpy(dir.file("u2.npy")).scalar_type(), at::kInt);
  std::string msg = errorOf([&] { readNpy(dir.file("c8.npy")); });
  EXPECT_NE(msg.find("unsupported dtype '<c8'"), std::string::npos) << msg;
}

TEST(Npy, FortranOrder) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import numpy as np
a = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
np.save('f.npy', a)
assert b"'fortran_order': True" in open('f.npy', 'rb').read(128)
np.save('f2.npy', np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)))
)PY"));
  const at::Tensor t = readNpy(dir.file("f.npy"));
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(at::equal(t, at::arange(24, at::kFloat).reshape({2, 3, 4})));
  EXPECT_EQ(t[1][2][3].item<float>(), 23.0f);
  EXPECT_EQ(t[0][1][0].item<float>(), 4.0f);
  const at::Tensor u = readNpy(dir.file("f2.npy"));
  EXPECT_TRUE(at::equal(u, at::arange(6, at::kLong).reshape({2, 3})));
}

TEST(Npy, BigEndian) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import numpy as np
np.save('f4.npy', np.array([1.5, -2.0, 1e30], dtype='>f4'))
np.save('f8.npy', np.array([[1.0 / 3, -7.25]], dtype='>f8'))
np.save('i8.npy', np.array([1, -2, 2**40], dtype='>i8'))
np.save('i2.npy', np.array([258, -3], dtype='>i2'))
np.save('f2.npy', np.array([0.5, -1.25], dtype='>f2'))
assert b"'>f4'" in open('f4.npy', 'rb').read(128)
)PY"));
  at::Tensor t = readNpy(dir.file("f4.npy"));
  EXPECT_EQ(t.scalar_type(), at::kFloat);
  EXPECT_EQ(t[0].item<float>(), 1.5f);
  EXPECT_EQ(t[1].item<float>(), -2.0f);
  EXPECT_EQ(t[2].item<float>(), 1e30f);
  t = readNpy(dir.file("f8.npy"));
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(t[0][0].item<double>(), 1.0 / 3);
  EXPECT_EQ(t[0][1].item<double>(), -7.25);
  t = readNpy(dir.file("i8.npy"));
  EXPECT_EQ(t[2].item<int64_t>(), int64_t{1} << 40);
  EXPECT_EQ(t[1].item<int64_t>(), -2);
  t = readNpy(dir.file("i2.npy"));
  EXPECT_EQ(t[0].item<int16_t>(), 258);
  EXPECT_EQ(t[1].item<int16_t>(), -3);
  t = readNpy(dir.file("f2.npy"));
  EXPECT_EQ(t.scalar_type(), at::kHalf);
  EXPECT_EQ(t[1].item<float>(), -1.25f);
}

TEST(Npy, Version2And3Headers) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import numpy as np
a = np.arange(10, dtype=np.int32) * 3
with open('v2.npy', 'wb') as f:
    np.lib.format.write_array(f, a, version=(2, 0))
with open('v3.npy', 'wb') as f:
    np.lib.format.write_array(f, a, version=(3, 0))
assert open('v2.npy', 'rb').read(8) == b'\x93NUMPY\x02\x00'
)PY"));
  for (const char* name : {"v2.npy", "v3.npy"}) {
    const at::Tensor t = readNpy(dir.file(name));
    EXPECT_TRUE(at::equal(t, at::arange(10, at::kInt) * 3)) << name;
  }
  // And one we build by hand, through parseNpy.
  const std::vector<uint8_t> data = {1, 0, 0, 0, 2, 0, 0, 0};
  const std::vector<uint8_t> img =
      makeNpy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", data, 2);
  const at::Tensor t = parseNpy(img.data(), img.size(), "mem");
  EXPECT_EQ(t[1].item<int32_t>(), 2);
}

TEST(Npy, NumpyReadsWhatWeWrite) {
  TempDir dir;
  for (const at::ScalarType type : kAllTypes)
    writeNpy(dir.file(std::string(c10::toString(type)) + ".npy"), pattern(type));
  writeNpy(dir.file("scalar.npy"), at::scalar_tensor(4.0, at::kFloat));
  ASSERT_TRUE(test::runPython(dir, R"PY(
import numpy as np
base = np.arange(24).reshape(2, 3, 4)
expect = {'Float': np.float32, 'Double': np.float64, 'Half': np.float16, 'Char': np.int8,
          'Short': np.int16, 'Int': np.int32, 'Long': np.int64}
for name, dt in expect.items():
    a = np.load(name + '.npy')
    assert a.dtype == dt and a.shape == (2, 3, 4), (name, a.dtype, a.shape)
    assert (a == (base - 7).astype(dt)).all(), name
assert (np.load('Byte.npy') == base.astype(np.uint8)).all()
b = np.load('Bool.npy')
assert b.dtype == np.bool_ and (b == (base % 3 == 0)).all()
s = np.load('scalar.npy')
assert s.shape == () and s == 4.0
)PY"));
}

TEST(Npy, RejectsHostileOrBrokenFiles) {
  const std::vector<uint8_t> four(16, 0);
  auto parse = [](const std::vector<uint8_t>& b) { return parseNpy(b.data(), b.size(), "x.npy"); };

  std::vector<uint8_t> img = test::bytesOf("NOTNUMPYxxxxxxxxxxxx");
  std::string msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("x.npy: not a .npy file (bad magic)"), std::string::npos) << msg;

  // Shape that needs more bytes than the file has.
  img = makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", four);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("needs 20 bytes but the file holds 16"), std::string::npos) << msg;

  // Absurd shape: must fail before allocating anything.
  img = makeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000, 1000000000), }",
                four);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("needs 8000000000000000000 bytes but the file holds 16"), std::string::npos)
      << msg;
  img =
      makeNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }", four);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("dimension too large"), std::string::npos) << msg;

  // Header length that runs past the end of the file.
  img = makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four);
  img[8] = 0xFF;
  img[9] = 0x7F;
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("beyond the file"), std::string::npos) << msg;

  // Truncated data.
  img = makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four);
  img.resize(img.size() - 3);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("the file holds 13 data bytes"), std::string::npos) << msg;

  // Object arrays, structured dtypes, garbage headers, unknown versions.
  img = makeNpy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", four);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("unsupported dtype '|O'"), std::string::npos) << msg;
  img = makeNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (4,), }", four);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("structured dtypes are not supported"), std::string::npos) << msg;
  img = makeNpy("__import__('os').system('ls')", four);
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("malformed .npy header"), std::string::npos) << msg;
  img = makeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four);
  img[6] = 9;
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("unsupported .npy format version 9.0"), std::string::npos) << msg;

  // Bool bytes other than 0/1.
  img = makeNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (16,), }",
                std::vector<uint8_t>(16, 7));
  msg = errorOf([&] { parse(img); });
  EXPECT_NE(msg.find("bool array"), std::string::npos) << msg;

  msg = errorOf([&] { readNpy("/nonexistent/dir/x.npy"); });
  EXPECT_NE(msg.find("/nonexistent/dir/x.npy: cannot open"), std::string::npos) << msg;
}

}  // namespace
}  // namespace fl
