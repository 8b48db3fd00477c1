// Hostile and unusual files, round two: the one way to open a file, the one way to
// replace one, the one number parser, upstream's validation rules, bounded unpickling and the
// image header pre-check.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/common/file_io.h"
#include "core/common/numbers.h"
#include "core/io/image_header.h"
#include "core/io/npy.h"
#include "core/io/pickle.h"
#include "core/io/safetensors.h"
#include "core/io/state_dict.h"
#include "io_test_support.h"

namespace fl {
namespace {

using test::bytesOf;
using test::errorOf;
using test::TempDir;
using namespace std::string_literals;

std::string join(const TempDir& d, const std::string& name) { return (std::filesystem::path(d.path()) / name).string(); }

TEST(InputFile, RefusesAFifoWithoutBlocking) {
  TempDir d;
  const std::string fifo = join(d, "x.npy");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string msg = errorOf([&] { InputFile f(fifo); });
  EXPECT_NE(msg.find("x.npy' is not a regular file (a FIFO)"), std::string::npos) << msg;
  // Every reader goes through it: npy, safetensors.
  EXPECT_NE(errorOf([&] { readNpy(fifo); }).find("is not a regular file (a FIFO)"), std::string::npos);
  EXPECT_NE(errorOf([&] { readSafetensors(fifo); }).find("is not a regular file (a FIFO)"), std::string::npos);
}

TEST(InputFile, RefusesDevicesAndDirectoriesAndLinksToThem) {
  TempDir d;
  const std::string link = join(d, "x.png");
  std::filesystem::create_symlink("/dev/zero", link);
  EXPECT_NE(errorOf([&] { InputFile f(link); }).find("x.png' is not a regular file (a character device)"),
            std::string::npos);
  EXPECT_NE(errorOf([&] { InputFile f(d.path()); }).find("is not a regular file (a directory)"), std::string::npos);
}

TEST(InputFile, ReadsOnlyInsideTheSizeSeenAtOpen) {
  TempDir d;
  const std::string path = join(d, "a.bin");
  test::writeBytes(path, bytesOf("0123456789"));
  InputFile f(path);
  EXPECT_EQ(f.size(), 10u);
  char buf[4];
  f.readAt(6, buf, 4);
  EXPECT_EQ(std::string(buf, 4), "6789");
  EXPECT_NE(errorOf([&] { f.readAt(8, buf, 4); }).find("past the end of the 10-byte file"), std::string::npos);
  EXPECT_NE(errorOf([&] { (void)f.readAllText(5, "a test file"); }).find("is 10 bytes; a test file is at most 5 bytes"),
            std::string::npos);
}

TEST(InputFile, WindowedReadsAreTheFilesBytes) {
  // Reads of every size at every kind of place: inside the window, across its end, larger
  // than the window, and past the end of the file (refused as by InputFile).
  TempDir d;
  const std::string path = join(d, "w.bin");
  std::string bytes(20000, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char((i * 7 + i / 251) & 0xFF);
  test::writeBytes(path, bytesOf(bytes));
  WindowedInput w(path, 4096);
  EXPECT_EQ(w.size(), 20000u);
  const std::pair<uint64_t, size_t> reads[] = {{0, 10},    {5, 100},   {4000, 200}, {4090, 10},  {100, 5000},
                                               {8192, 1},  {19990, 10}, {12000, 3000}, {3, 1}, {19999, 1}};
  for (const auto& [offset, n] : reads) {
    std::string got(n, '\0');
    w.readAt(offset, got.data(), n);
    EXPECT_EQ(got, bytes.substr(offset, n)) << offset << "+" << n;
  }
  char buf[8];
  EXPECT_NE(errorOf([&] { w.readAt(19996, buf, 8); }).find("past the end of the 20000-byte file"), std::string::npos);
  EXPECT_NE(errorOf([&] { w.readAt(30000, buf, 1); }).find("past the end of the 20000-byte file"), std::string::npos);
}

TEST(ReplaceFile, RefusesExistingSpecialFilesAndLeavesThemAlone) {
  TempDir d;
  const std::string fifo = join(d, "out.npy");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string msg = errorOf([&] { writeNpy(fifo, at::ones({2})); }, ErrorKind::Usage);
  EXPECT_NE(msg.find("out.npy' is not a regular file (a FIFO)"), std::string::npos) << msg;
  struct stat st {};
  ASSERT_EQ(::lstat(fifo.c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_FALSE(std::filesystem::exists(fifo + ".tmp"));
  const std::string link = join(d, "null.safetensors");
  std::filesystem::create_symlink("/dev/null", link);
  errorOf([&] { writeSafetensors(link, {{"x", at::ones({2})}}); }, ErrorKind::Usage);
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  // A regular file (or nothing) is replaced as before.
  const std::string regular = join(d, "ok.npy");
  writeNpy(regular, at::ones({2}));
  writeNpy(regular, at::zeros({3}));
  EXPECT_EQ(readNpy(regular).numel(), 3);
}

TEST(Numbers, OverflowJunkAndRangeAreUsageErrorsNamingTheField) {
  EXPECT_EQ(parseInteger("42", "--iters", 1, 100), 42);
  EXPECT_EQ(parseInteger("+7", "--iters", 1, 100), 7);
  std::string msg = errorOf([] { parseInteger("99999999999999999999", "--shape", 1, 1 << 20); }, ErrorKind::Usage);
  EXPECT_NE(msg.find("--shape '99999999999999999999' is not an integer in [1, 1048576] (too large)"), std::string::npos)
      << msg;
  msg = errorOf([] { parseInteger("12abc", "--iters", 1, 100); }, ErrorKind::Usage);
  EXPECT_NE(msg.find("(trailing characters)"), std::string::npos) << msg;
  msg = errorOf([] { parseInteger("0", "--iters", 1, 100); }, ErrorKind::Usage);
  EXPECT_NE(msg.find("(out of range)"), std::string::npos) << msg;
  EXPECT_FALSE(toReal("inf"));
  EXPECT_FALSE(toReal("nan"));
  EXPECT_FALSE(toReal("1e999"));
  EXPECT_FALSE(toReal("1.5x"));
  EXPECT_FALSE(toInteger(" 5"));
  EXPECT_DOUBLE_EQ(*toReal("-2.5e-3"), -2.5e-3);
}

std::vector<uint8_t> npyWithVersion(int major, int minor) {
  // A v1-style header works for the version check; 2.0/3.0 use a 4-byte length.
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  const size_t pre = major == 1 ? 10 : 12;
  header.append((64 - (pre + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + char(major) + char(minor);
  const uint32_t n = uint32_t(header.size());
  out += char(n & 0xFF);
  out += char((n >> 8) & 0xFF);
  if (major != 1) {
    out += char((n >> 16) & 0xFF);
    out += char((n >> 24) & 0xFF);
  }
  out += header + std::string(8, '\0');
  return bytesOf(out);
}

TEST(Npy, OnlyTheVersionsNumpyReads) {
  for (auto [major, minor] : {std::pair{1, 0}, {2, 0}, {3, 0}}) {
    const auto b = npyWithVersion(major, minor);
    EXPECT_EQ(parseNpy(b.data(), b.size(), "v.npy").numel(), 2) << major << "." << minor;
  }
  for (auto [major, minor] : {std::pair{1, 1}, {2, 5}, {0, 0}, {4, 0}}) {
    const auto b = npyWithVersion(major, minor);
    const std::string msg = errorOf([&] { parseNpy(b.data(), b.size(), "v.npy"); });
    EXPECT_NE(msg.find("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor)),
              std::string::npos)
        << msg;
  }
}

std::vector<uint8_t> safetensorsFile(const std::string& header, size_t dataBytes) {
  std::string out(8, '\0');
  for (size_t i = 0; i < 8; ++i) out[i] = char((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  return bytesOf(out + header + std::string(dataBytes, '\0'));
}

TEST(Safetensors, BytesAfterTheLastTensorOrBetweenTensorsAreRefused) {
  const std::string one = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  auto ok = safetensorsFile(one, 8);
  EXPECT_EQ(parseSafetensors(ok.data(), ok.size(), "s").size(), 1u);
  auto trailing = safetensorsFile(one, 12);
  EXPECT_NE(errorOf([&] { parseSafetensors(trailing.data(), trailing.size(), "s"); })
                .find("has 4 bytes after its last tensor"),
            std::string::npos);
  auto gap = safetensorsFile(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12);
  EXPECT_NE(errorOf([&] { parseSafetensors(gap.data(), gap.size(), "s"); }).find("unused bytes between tensors"),
            std::string::npos);
}

TEST(Safetensors, ManyEntriesInDataOrder) {
  // 100,000 one-element tensors (quadratic header handling took 16 s here; the timing itself
  // is in bench/header_scaling.py). Listed in data order, whatever the header's key order.
  const int n = 100000;
  std::string header = "{";
  for (int i = n - 1; i >= 0; --i) {
    header += "\"t" + std::to_string(i) + "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[" +
              std::to_string(4 * i) + "," + std::to_string(4 * i + 4) + "]}" + (i ? "," : "");
  }
  header += "}";
  const auto b = safetensorsFile(header, size_t(4) * n);
  const NamedTensors t = parseSafetensors(b.data(), b.size(), "many");
  ASSERT_EQ(t.size(), size_t(n));
  EXPECT_EQ(t.front().first, "t0");
  EXPECT_EQ(t.back().first, "t" + std::to_string(n - 1));
}

TEST(Pickle, MillionsOfObjectsWithoutTensorsAreRefusedNamingTheCount) {
  std::string p = "\x80\x02](";
  p.append(400000, 'N');
  p += "e.";
  const auto b = bytesOf(p);
  const std::string msg = errorOf([&] { unpickle(b.data(), b.size(), "n.pt"); });
  EXPECT_NE(msg.find("more than 262144 objects for 0 tensor storages"), std::string::npos) << msg;
  // Below the cap a list of Nones is fine.
  std::string small = "\x80\x02](";
  small.append(1000, 'N');
  small += "e.";
  const auto s = bytesOf(small);
  EXPECT_EQ(unpickle(s.data(), s.size(), "s.pt")->items.size(), 1000u);
}

/// ('storage', torch.FloatStorage, KEY, 'cpu', 2), memoised as 7 and left on the stack.
std::string storagePid(const std::string& key) {
  // (Literals split where a hex escape would swallow the next letter: "\x03" "c".)
  return "(X\x07\x00\x00\x00storageq\x03"s + "ctorch\nFloatStorage\nq\x04X"s + char(key.size()) +
         "\x00\x00\x00"s + key + "X\x03\x00\x00\x00"s + "cpuK\x02tq\x07"s;
}

at::Tensor loadTwoFloats(const PickleStorageRef& ref) {
  EXPECT_EQ(ref.numel, 2);
  return at::zeros({2});
}

TEST(Pickle, ReferencesToOneStorageDoNotRaiseTheObjectCap) {
  // Each `BINGET 7; BINPERSID` (3 bytes) makes a storage object from the memoised persistent
  // id of the one storage. When every such object raised the cap by 256, 250 Nones after each
  // went through: 12 MB of this held 2.7 GB. The cap follows distinct storages.
  std::string p = "\x80\x02]"s + storagePid("0") + "0(";
  for (int i = 0; i < 2000; ++i) p += "h\x07Q" + std::string(250, 'N');
  p += "e.";
  const auto b = bytesOf(p);
  const std::string msg = errorOf([&] { unpickle(b.data(), b.size(), "s.pt", loadTwoFloats); });
  EXPECT_NE(msg.find("more than 262400 objects for 1 tensor storages"), std::string::npos) << msg;
}

TEST(Pickle, OpcodesThatMakeNoObjectAreBoundedByTheBytesHeld) {
  // MEMOIZE (1 byte: a memo entry), DUP (1 byte: a stack slot), MARK (1 byte) and BINGET
  // (2 bytes: a list slot) make no object; millions of them held hundreds of MB (12 MB of
  // MEMOIZE: 830 MB). They count against 64 MiB plus what the file's tensors allow.
  const std::vector<std::pair<std::string, std::string>> floods = {
      {"\x80\x02]" + std::string(2000000, '\x94') + ".", "memo entries"},
      {"\x80\x02](N" + std::string(6000000, '2') + "e.", "a stack of"},
      {"\x80\x02" + std::string(12000000, '(') + "N.", "marks"},
  };
  for (const auto& [pickle, what] : floods) {
    const auto b = bytesOf(pickle);
    const std::string msg = errorOf([&] { unpickle(b.data(), b.size(), "f.pt"); });
    EXPECT_NE(msg.find("f.pt: the pickle would hold more than 64 MiB ("), std::string::npos) << msg;
    EXPECT_NE(msg.find("for 0 tensor storages in a " + std::to_string(b.size()) + "-byte pickle"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
  std::string gets = "\x80\x02](Nq\x00"s;
  for (int i = 0; i < 4000000; ++i) gets += "h\x00"s;
  gets += "e.";
  const auto g = bytesOf(gets);
  EXPECT_NE(errorOf([&] { unpickle(g.data(), g.size(), "g.pt"); }).find("would hold more than 64 MiB"), std::string::npos);
}

TEST(Pickle, RealCheckpointsStayWellInsideTheBounds) {
  // torch.save of 20,000 one-element tensors (the most objects per tensor byte a real
  // state_dict has) and a training checkpoint with optimizer state and metadata.
  TempDir d;
  ASSERT_TRUE(test::runPython(d, R"PY(
import torch, collections
torch.save(collections.OrderedDict((f"layer{i}.weight", torch.zeros(1)) for i in range(20000)), "many.pt")
net = torch.nn.Sequential(*[torch.nn.Conv2d(8, 8, 3) for _ in range(50)])
opt = torch.optim.Adam(net.parameters())
net(torch.zeros(1, 8, 120, 120)).sum().backward()
opt.step()
torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "history": [float(i) for i in range(50000)]}, "train.pt")
)PY"));
  EXPECT_EQ(readStateDict(d.file("many.pt")).size(), 20000u);
  const Checkpoint cp = readCheckpoint(d.file("train.pt"));
  EXPECT_GE(cp.tensors.size(), 100u + 2 * 100u);  // weights and biases; exp_avg, exp_avg_sq (and step)
}

TEST(Pickle, AWholePickledModelIsSaidAsSuch) {
  // What torch.save(model) writes, in short: the class, then its __dict__ with nn.Module's keys.
  // (std::string literals: the pickle holds NUL bytes.)
  const std::string p = "\x80\x02"s + "c__main__\nNet\nq\x00)\x81}(X\x0b\x00\x00\x00_parameters"s +
                        "}X\x08\x00\x00\x00_modules}ub."s;
  const auto b = bytesOf(p);
  const std::string msg = errorOf([&] { unpickle(b.data(), b.size(), "w.pt"); });
  EXPECT_NE(msg.find("w.pt: this file holds a whole pickled model object (class __main__.Net), not a state_dict: "
                     "save `model.state_dict()` (or open the model as TorchScript)"),
            std::string::npos)
      << msg;
  // Code-running globals keep the plain refusal, whatever else the pickle holds.
  const std::string evil = "\x80\x02"s + "cos\nsystem\nX\x0b\x00\x00\x00_parameters"s +
                           "X\x08\x00\x00\x00_modules\x86R."s;
  const auto e = bytesOf(evil);
  EXPECT_NE(errorOf([&] { unpickle(e.data(), e.size(), "e.pt"); }).find("pickle global 'os.system' is not allowed"),
            std::string::npos);
}

std::vector<uint8_t> pngBytes(uint32_t w, uint32_t h, bool withEnd) {
  auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  auto chunk = [&](const std::string& type, const std::string& data) { return be32(uint32_t(data.size())) + type + data + be32(0); };
  std::string ihdr = be32(w) + be32(h) + std::string{8, 2, 0, 0, 0};
  std::string out = std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", std::string(20, 'x'));
  if (withEnd) out += chunk("IEND", "");
  return bytesOf(out);
}

TEST(ImageHeader, TruncationAndTheCodecsRealLimits) {
  EXPECT_EQ(checkImageBytes(pngBytes(640, 480, true), "a.png").width, 640);
  std::string msg = errorOf([] { checkImageBytes(pngBytes(640, 480, false), "a.png"); });
  EXPECT_NE(msg.find("'a.png' is truncated or damaged: its data ends before the PNG's IEND chunk"), std::string::npos)
      << msg;
  msg = errorOf([] { checkImageBytes(pngBytes(1 << 20, 1, true), "w.png"); });
  EXPECT_NE(msg.find("PNG sides are 1 to 1000000"), std::string::npos) << msg;
  // JPEG: start of image, a baseline frame header, a scan, no end-of-image marker.
  std::string jpeg = std::string("\xff\xd8\xff\xc0\x00\x11\x08\x00\x10\x00\x10\x03\x01\x11\x00\x02\x11\x00\x03\x11\x00", 21) +
                     std::string("\xff\xda\x00\x0c\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00", 14) + std::string(50, '\x12');
  msg = errorOf([&] { checkImageBytes(bytesOf(jpeg), "c.jpg"); });
  EXPECT_NE(msg.find("before the JPEG's end-of-image marker"), std::string::npos) << msg;
  EXPECT_EQ(checkImageBytes(bytesOf(jpeg + "\xff\xd9"), "c.jpg").width, 16);
}

}  // namespace
}  // namespace fl
