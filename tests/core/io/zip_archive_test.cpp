#include "core/io/zip_archive.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "io_test_support.h"

namespace fl {
namespace {

using test::errorOf;
using test::TempDir;

/// Offset of the central-directory record for `name` in a zip image.
size_t centralRecord(const std::vector<uint8_t>& zip, const std::string& name) {
  for (size_t i = 0; i + 46 + name.size() <= zip.size(); ++i) {
    if (std::memcmp(&zip[i], "PK\x01\x02", 4) == 0 &&
        zip[i + 28] + (zip[i + 29] << 8) == int(name.size()) &&
        std::memcmp(&zip[i + 46], name.data(), name.size()) == 0)
      return i;
  }
  ADD_FAILURE() << "no central record for " << name;
  return 0;
}

void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
}

/// Python writes: a stored text, a deflated pattern, a zip64 entry, an empty one.
const char* kFixture = R"PY(
import zipfile
pattern = bytes((i * 7 + i // 256) % 251 for i in range(100000))
with zipfile.ZipFile('t.zip', 'w') as z:
    z.writestr(zipfile.ZipInfo('a.txt'), b'hello zip')
    z.writestr('dir/b.bin', pattern, compress_type=zipfile.ZIP_DEFLATED)
    with z.open(zipfile.ZipInfo('dir/c64.bin'), 'w', force_zip64=True) as f:
        f.write(b'zip64 payload')
    z.writestr(zipfile.ZipInfo('empty'), b'')
    info = zipfile.ZipInfo('empty.deflate')
    info.compress_type = zipfile.ZIP_DEFLATED
    z.writestr(info, b'')
with zipfile.ZipFile('bomb.zip', 'w') as z:
    z.writestr('zeros', bytes(64 << 20), compress_type=zipfile.ZIP_DEFLATED)
with zipfile.ZipFile('none.zip', 'w') as z:
    pass
)PY";

std::vector<uint8_t> pattern() {
  std::vector<uint8_t> p(100000);
  for (size_t i = 0; i < p.size(); ++i) p[i] = uint8_t((i * 7 + i / 256) % 251);
  return p;
}

TEST(ZipArchive, ReadsStoredDeflatedZip64AndEmptyEntries) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kFixture));
  const ZipArchive zip = ZipArchive::open(dir.file("t.zip"));
  ASSERT_EQ(zip.entries().size(), 5u);
  EXPECT_EQ(zip.entries()[0].name, "a.txt");
  EXPECT_EQ(zip.entries()[0].method, 0);
  EXPECT_EQ(zip.entries()[1].name, "dir/b.bin");
  EXPECT_EQ(zip.entries()[1].method, 8);
  EXPECT_LT(zip.entries()[1].compressedSize, zip.entries()[1].uncompressedSize);
  EXPECT_TRUE(zip.contains("dir/c64.bin"));
  EXPECT_FALSE(zip.contains("dir"));

  const std::vector<uint8_t> a = zip.read("a.txt");
  EXPECT_EQ(std::string(a.begin(), a.end()), "hello zip");
  EXPECT_EQ(zip.read("dir/b.bin"), pattern());
  const std::vector<uint8_t> c = zip.read("dir/c64.bin");
  EXPECT_EQ(std::string(c.begin(), c.end()), "zip64 payload");
  EXPECT_TRUE(zip.read("empty").empty());
  EXPECT_TRUE(zip.read("empty.deflate").empty());

  // readInto straight into caller memory.
  std::vector<uint8_t> buf(100000);
  zip.readInto(*zip.find("dir/b.bin"), buf.data(), buf.size());
  EXPECT_EQ(buf, pattern());

  // The same archive from memory.
  const ZipArchive mem = ZipArchive::fromBuffer(test::readBytes(dir.file("t.zip")), "t.zip(mem)");
  EXPECT_EQ(mem.read("dir/b.bin"), pattern());
  EXPECT_EQ(mem.where(), "t.zip(mem)");

  EXPECT_TRUE(ZipArchive::open(dir.file("none.zip")).entries().empty());
}

TEST(ZipArchive, MissingEntryIsNamed) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kFixture));
  const ZipArchive zip = ZipArchive::open(dir.file("t.zip"));
  const std::string msg = errorOf([&] { zip.read("nope/data.pkl"); });
  EXPECT_NE(msg.find("t.zip: no entry 'nope/data.pkl' in the archive"), std::string::npos) << msg;
}

TEST(ZipArchive, ZipBombGuard) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kFixture));
  ZipArchive zip = ZipArchive::open(dir.file("bomb.zip"));
  EXPECT_LT(zip.entries()[0].compressedSize, uint64_t{1} << 20);
  zip.setMaxEntryBytes(uint64_t{1} << 20);
  const std::string msg = errorOf([&] { zip.read("zeros"); });
  EXPECT_NE(msg.find("entry 'zeros' would decompress to 67108864 bytes, more than the limit of "
                     "1048576 bytes (zip-bomb guard)"),
            std::string::npos)
      << msg;
  zip.setMaxEntryBytes(ZipArchive::kDefaultMaxEntryBytes);
  const std::vector<uint8_t> all = zip.read("zeros");
  EXPECT_EQ(all.size(), size_t{64} << 20);
  EXPECT_EQ(std::count(all.begin(), all.end(), 0), long(all.size()));
}

TEST(ZipArchive, LyingSizesAreCaught) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kFixture));
  const std::vector<uint8_t> good = test::readBytes(dir.file("t.zip"));

  // Deflated entry claiming fewer bytes than it inflates to (a classic bomb trick).
  std::vector<uint8_t> img = good;
  put32(img, centralRecord(img, "dir/b.bin") + 24, 1000);
  std::string msg = errorOf([&] { ZipArchive::fromBuffer(img, "t.zip").read("dir/b.bin"); });
  EXPECT_NE(msg.find("inflates to more than its declared 1000 bytes"), std::string::npos) << msg;

  // ... or more than it inflates to.
  img = good;
  put32(img, centralRecord(img, "dir/b.bin") + 24, 200000);
  msg = errorOf([&] { ZipArchive::fromBuffer(img, "t.zip").read("dir/b.bin"); });
  EXPECT_NE(msg.find("inflates to 100000 bytes, not the declared 200000"), std::string::npos)
      << msg;

  // Stored entry whose two sizes disagree.
  img = good;
  put32(img, centralRecord(img, "a.txt") + 24, 4);
  msg = errorOf([&] { ZipArchive::fromBuffer(img, "t.zip").read("a.txt"); });
  EXPECT_NE(msg.find("lying sizes"), std::string::npos) << msg;

  // Compressed size running past the end of the data: refused when the directory is read.
  img = good;
  put32(img, centralRecord(img, "dir/b.bin") + 20, 0x7FFFFFF0);
  msg = errorOf([&] { ZipArchive::fromBuffer(img, "t.zip"); });
  EXPECT_NE(msg.find("t.zip: entry 'dir/b.bin' ends at byte"), std::string::npos) << msg;

  // Local header offset pointing past the file.
  img = good;
  put32(img, centralRecord(img, "a.txt") + 42, 0x7FFFFFF0);
  msg = errorOf([&] { ZipArchive::fromBuffer(img, "t.zip"); });
  EXPECT_NE(msg.find("entry 'a.txt' ends at byte"), std::string::npos) << msg;

  // Central directory offset beyond the file.
  img = good;
  const size_t end = img.size() - 22;
  ASSERT_EQ(std::memcmp(&img[end], "PK\x05\x06", 4), 0);
  put32(img, end + 16, 0x7FFFFFF0);
  msg = errorOf([&] { ZipArchive::fromBuffer(img, "t.zip"); });
  EXPECT_NE(msg.find("central directory"), std::string::npos) << msg;
}

TEST(ZipArchive, DamagedDataFailsCrc) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kFixture));
  std::vector<uint8_t> img = test::readBytes(dir.file("t.zip"));
  const auto it =
      std::search(img.begin(), img.end(), std::begin("hello zip"), std::begin("hello zip") + 9);
  ASSERT_NE(it, img.end());
  *it = 'j';
  const std::string msg = errorOf([&] { ZipArchive::fromBuffer(img, "t.zip").read("a.txt"); });
  EXPECT_NE(msg.find("entry 'a.txt' fails its CRC-32 check"), std::string::npos) << msg;
}

TEST(ZipArchive, TruncatedAndNonZipInputs) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kFixture));
  std::vector<uint8_t> img = test::readBytes(dir.file("t.zip"));
  img.resize(img.size() / 2);
  test::writeBytes(dir.file("half.zip"), img);
  std::string msg = errorOf([&] { ZipArchive::open(dir.file("half.zip")); });
  EXPECT_NE(msg.find("half.zip: truncated zip archive"), std::string::npos) << msg;

  test::writeBytes(dir.file("text.zip"), test::bytesOf("this is not a zip archive at all"));
  msg = errorOf([&] { ZipArchive::open(dir.file("text.zip")); });
  EXPECT_NE(msg.find("text.zip: not a zip archive"), std::string::npos) << msg;

  msg = errorOf([&] { ZipArchive::fromMemory(img.data(), 3, "tiny"); });
  EXPECT_NE(msg.find("tiny: not a zip archive"), std::string::npos) << msg;

  msg = errorOf([&] { ZipArchive::open(dir.file("missing.zip")); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;

  const uint8_t pk[] = {'P', 'K', 3, 4};
  EXPECT_TRUE(looksLikeZip(pk, 4));
  EXPECT_FALSE(looksLikeZip(pk, 3));
}

}  // namespace
}  // namespace fl
