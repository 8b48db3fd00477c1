// Regressions for what fuzzing the readers (tests/fuzz/, docs/fuzzing.md) and reviewing them
// for it found: undefined behaviour on empty arrays, overflow in view bounds, and hostile
// files that multiply a few kilobytes into gigabytes or quadratic time.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <optional>
#include <fstream>

#include "core/io/npy.h"
#include "core/io/pickle.h"
#include "core/io/safetensors.h"
#include "core/io/state_dict.h"
#include "core/io/zip_archive.h"
#include "io_test_support.h"

// Bytes requested through operator new on a thread while it counts: a structural bound on
// the work of a call (how much it copies), where a wall-clock bound would be a timed test.
// Replaces the global operator new of this test binary; every other allocation only pays one
// thread-local test.
namespace {
thread_local bool tCountAllocations = false;
thread_local uint64_t tAllocatedBytes = 0;
thread_local uint64_t tAllocationCalls = 0;
}  // namespace

void* operator new(std::size_t n) {
  if (tCountAllocations) {
    tAllocatedBytes += n;
    ++tAllocationCalls;
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace fl {
namespace {

/// Counts the bytes this thread asks operator new for while it lives.
class AllocationCount {
 public:
  AllocationCount() {
    tAllocatedBytes = 0;
    tAllocationCalls = 0;
    tCountAllocations = true;
  }
  ~AllocationCount() { tCountAllocations = false; }
  uint64_t bytes() const { return tAllocatedBytes; }
  uint64_t calls() const { return tAllocationCalls; }
};

using Kind = PickleValue::Kind;
using test::errorOf;

PickleTree unpickleBytes(const std::string& bytes, const PickleStorageLoader& loader = {}) {
  return unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "p.pkl", loader);
}

/// Pickle opcodes for a protocol-2 stream, written by hand so each test says what it builds.
std::string le(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out += char((v >> (8 * i)) & 0xFF);
  return out;
}
std::string pInt(int64_t v) { return "\x8a\x08" + le(uint64_t(v), 8); }  // LONG1, 8 bytes
std::string pStr(const std::string& s) { return "X" + le(s.size(), 4) + s; }  // BINUNICODE
std::string pPut(int i) { return "q" + std::string(1, char(i)); }               // BINPUT
std::string pGet(int i) { return "h" + std::string(1, char(i)); }               // BINGET
std::string pTuple(const std::vector<int64_t>& v) {
  std::string out = "(";
  for (const int64_t x : v) out += pInt(x);
  return out + "t";
}

/// _rebuild_tensor_v2(('storage', FloatStorage, '0', 'cpu', numel), 0, size, stride, ...).
std::string tensorPickle(int64_t numel, const std::vector<int64_t>& size,
                         const std::vector<int64_t>& stride) {
  return "\x80\x02" "ctorch._utils\n_rebuild_tensor_v2\n(" "(" + pStr("storage") +
         "ctorch\nFloatStorage\n" + pStr("0") + pStr("cpu") + pInt(numel) + "tQ" + pInt(0) +
         pTuple(size) + pTuple(stride) + "\x89" "ccollections\nOrderedDict\n)RtR.";
}

/// Lowers this process's address-space limit to what it uses now plus `headroom` bytes, for
/// the scope: an allocation of what a lying header claims then fails (std::bad_alloc)
/// instead of quietly reserving gigabytes. Not under ASan, whose shadow memory needs more.
class AddressSpaceLimit {
 public:
  explicit AddressSpaceLimit(uint64_t headroom) {
    getrlimit(RLIMIT_AS, &saved_);
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    statm >> pages;
    rlimit lower = saved_;
    lower.rlim_cur = pages * uint64_t(sysconf(_SC_PAGESIZE)) + headroom;
    active_ = pages > 0 && setrlimit(RLIMIT_AS, &lower) == 0;
  }
  ~AddressSpaceLimit() {
    if (active_) setrlimit(RLIMIT_AS, &saved_);
  }
  bool active() const { return active_; }

 private:
  rlimit saved_{};
  bool active_ = false;
};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif
#else
constexpr bool kUnderAsan = false;
#endif

/// A one-entry zip whose headers say what the test wants (method, flags, sizes).
std::vector<uint8_t> oneEntryZip(const std::string& name, const std::string& data,
                                 uint16_t method, uint16_t flags, uint32_t uncompressedSize) {
  std::string out = le(0x04034b50, 4) + le(20, 2) + le(flags, 2) + le(method, 2) + le(0, 4) +
                    le(0, 4) + le(data.size(), 4) + le(uncompressedSize, 4) +
                    le(name.size(), 2) + le(0, 2) + name + data;
  const std::string cd = le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(flags, 2) +
                         le(method, 2) + le(0, 4) + le(0, 4) + le(data.size(), 4) +
                         le(uncompressedSize, 4) + le(name.size(), 2) + le(0, 6) + le(0, 2) +
                         le(0, 4) + le(0, 4) + name;
  const size_t cdOffset = out.size();
  out += cd + le(0x06054b50, 4) + le(0, 4) + le(1, 2) + le(1, 2) + le(cd.size(), 4) +
         le(cdOffset, 4) + le(0, 2);
  return std::vector<uint8_t>(out.begin(), out.end());
}

at::Tensor storageOf(const PickleStorageRef& ref) {
  return at::arange(ref.numel, at::TensorOptions().dtype(ref.dtype));
}

TEST(FuzzRegressions, EmptyArraysParseFromMemory) {
  // fuzz_npy: an empty tensor's data_ptr() is null and was handed to memcpy (UBSan).
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }";
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  const std::string npy = std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header;
  const at::Tensor t = parseNpy(reinterpret_cast<const uint8_t*>(npy.data()), npy.size(), "e.npy");
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{0, 4}));

  const std::string json = R"({"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]}})";
  const std::string st = le(json.size(), 8) + json;
  const NamedTensors s =
      parseSafetensors(reinterpret_cast<const uint8_t*>(st.data()), st.size(), "e.safetensors");
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].second.sizes(), (std::vector<int64_t>{0, 4}));
}

TEST(FuzzRegressions, EmptyShapesMustStillMultiplyWithinInt64) {
  // fuzz_npy: (2, 3, 0, 42294967296, 4294967296) holds no bytes, so it passed the size
  // check; LibTorch then multiplied the sizes past int64 and threw a c10::Error.
  std::string header =
      "{'descr': '<u2', 'fortran_order': False, 'shape': (2, 3, 0, 42294967296, 4294967296), }";
  header += std::string(64 - (10 + header.size() + 1) % 64, ' ') + "\n";
  const std::string npy = std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header;
  std::string msg = errorOf([&] {
    parseNpy(reinterpret_cast<const uint8_t*>(npy.data()), npy.size(), "z.npy");
  });
  EXPECT_NE(msg.find("z.npy: shape has too many elements"), std::string::npos) << msg;

  const std::string json =
      R"({"z":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})";
  const std::string st = le(json.size(), 8) + json;
  msg = errorOf([&] {
    parseSafetensors(reinterpret_cast<const uint8_t*>(st.data()), st.size(), "z.safetensors");
  });
  EXPECT_NE(msg.find("z.safetensors: tensor 'z' has an absurd shape"), std::string::npos) << msg;

  // Empty with sizes that do multiply within int64: still an empty tensor of that shape.
  const std::string ok = R"({"z":{"dtype":"F32","shape":[0,4294967296],"data_offsets":[0,0]}})";
  const std::string st2 = le(ok.size(), 8) + ok;
  const NamedTensors t =
      parseSafetensors(reinterpret_cast<const uint8_t*>(st2.data()), st2.size(), "ok.safetensors");
  EXPECT_EQ(t.at(0).second.sizes(), (std::vector<int64_t>{0, int64_t{1} << 32}));
}

TEST(FuzzRegressions, ZipEntriesAreCheckedBeforeAnythingIsAllocated) {
  // read() allocated (and zero-filled) the declared size before it looked at the method or
  // the encryption flag: 4 GiB for a 10-byte entry.
  if (kUnderAsan) GTEST_SKIP() << "address-space limits do not work under ASan";
  const std::string data(10, 'x');
  const ZipArchive method12 =
      ZipArchive::fromBuffer(oneEntryZip("x.npy", data, 12, 0, 0xFFFFFFF0u), "m.npz");
  const ZipArchive encrypted =
      ZipArchive::fromBuffer(oneEntryZip("x.npy", data, 0, 1, 0xFFFFFFF0u), "e.npz");
  AddressSpaceLimit limit(uint64_t{1} << 30);
  ASSERT_TRUE(limit.active());
  EXPECT_THROW(at::empty({int64_t{1} << 30}, at::kFloat), c10::Error);  // the limit works
  std::string msg = errorOf([&] { method12.read(method12.entries().front()); });
  EXPECT_NE(msg.find("m.npz: entry 'x.npy' uses compression method 12"), std::string::npos)
      << msg;
  msg = errorOf([&] { encrypted.read(encrypted.entries().front()); });
  EXPECT_NE(msg.find("e.npz: entry 'x.npy' is encrypted"), std::string::npos) << msg;
}

TEST(FuzzRegressions, TorchStoragesAreCheckedBeforeTheyAreAllocated) {
  // fuzz_checkpoint: a deflated storage entry of 64 bytes claiming 4 GiB was allocated as a
  // tensor before readInto() found that DEFLATE cannot produce that much from it.
  if (kUnderAsan) GTEST_SKIP() << "address-space limits do not work under ASan";
  const std::string path =
      test::env("FL_SOURCE_DIR") + "/tests/data/bad/pt_storage_claims_4gb.pt";
  AddressSpaceLimit limit(uint64_t{1} << 30);
  ASSERT_TRUE(limit.active());
  EXPECT_THROW(at::empty({int64_t{1} << 30}, at::kFloat), c10::Error);  // the limit works
  const std::string msg = errorOf([&] { readCheckpoint(path); });
  EXPECT_NE(msg.find("claims 4294967280 bytes from"), std::string::npos) << msg;
  EXPECT_NE(msg.find("more than DEFLATE can produce"), std::string::npos) << msg;
}

TEST(FuzzRegressions, ViewsMayRepeatTheirStorageOnlyWithinBounds) {
  // torch.save(torch.arange(3.).expand(4, 3)) keeps the zero stride: still read as such.
  const PickleTree ok = unpickleBytes(tensorPickle(3, {4, 3}, {0, 1}), storageOf);
  ASSERT_EQ(ok->kind, Kind::Tensor);
  EXPECT_TRUE(at::equal(ok->tensor, at::arange(3, at::kFloat).expand({4, 3})));

  // One stored float viewed as 2^32 of them: a 16 GiB float32 copy from a tiny file.
  const std::string msg =
      errorOf([&] { unpickleBytes(tensorPickle(1, {65536, 65536}, {0, 0}), storageOf); });
  EXPECT_NE(msg.find("repeats its storage of 1 elements"), std::string::npos) << msg;
  EXPECT_EQ(msg.rfind("p.pkl: ", 0), 0u) << msg;
}

TEST(FuzzRegressions, HugeSizesAndStridesAreRefusedWithoutOverflow) {
  // 64 dims of size and stride 2^62: the bound used to be summed past 2^127 (signed overflow).
  const std::vector<int64_t> huge(64, int64_t{1} << 62);
  std::string msg = errorOf([&] { unpickleBytes(tensorPickle(4, huge, huge), storageOf); });
  EXPECT_NE(msg.find("more than 2^63 elements"), std::string::npos) << msg;

  const std::vector<int64_t> size = {2, int64_t{1} << 61}, stride = {int64_t{1} << 62, 1};
  msg = errorOf([&] { unpickleBytes(tensorPickle(4, size, stride), storageOf); });
  EXPECT_NE(msg.find("reaches past its storage of 4 elements"), std::string::npos) << msg;

  // Zero elements, but the other sizes multiply past int64 (LibTorch's element count).
  msg = errorOf([&] {
    unpickleBytes(tensorPickle(4, {int64_t{1} << 40, int64_t{1} << 40, 0}, {1, 1, 1}), storageOf);
  });
  EXPECT_NE(msg.find("more than 2^63 elements"), std::string::npos) << msg;

  const PickleTree empty = unpickleBytes(tensorPickle(0, {0, 5}, {5, 1}), storageOf);
  EXPECT_EQ(empty->tensor.sizes(), (std::vector<int64_t>{0, 5}));
}

TEST(FuzzRegressions, CopyingCallablesHaveABudget) {
  // set(L) for one memoised list of 30000 items, 4000 times: 2 GB of copies from 54 KB.
  std::string bytes = "\x80\x02](" + std::string(30000, 'N') + "e" + pPut(0) +
                      "c__builtin__\nset\n" + pPut(1) + "0](";
  for (int i = 0; i < 4000; ++i) bytes += pGet(1) + pGet(0) + "\x85R";
  bytes += "e.";
  std::string msg = errorOf([&] { unpickleBytes(bytes); });
  EXPECT_NE(msg.find("builtins.set() calls copy more than"), std::string::npos) << msg;
  EXPECT_NE(msg.find("memory-exhaustion"), std::string::npos) << msg;

  // _codecs.encode(S, 'latin1') of one memoised 30 KB string, 6000 times.
  bytes = "\x80\x02" + pStr(std::string(30000, 'k')) + pPut(0) + "0" + "c_codecs\nencode\n" +
          pPut(1) + pStr("latin1") + pPut(2) + "0](";
  for (int i = 0; i < 6000; ++i) bytes += pGet(1) + pGet(0) + pGet(2) + "\x86R";
  bytes += "e.";
  msg = errorOf([&] { unpickleBytes(bytes); });
  EXPECT_NE(msg.find("_codecs.encode() calls copy more than"), std::string::npos) << msg;

  // What real pickles do stays well inside: a few sets and encodes of their own values.
  bytes = "\x80\x02](" + std::string(1000, 'N') + "e" + pPut(0) + "c__builtin__\nset\n" +
          pPut(1) + "0(" + pGet(1) + pGet(0) + "\x85R" + pGet(1) + pGet(0) + "\x85Rt.";
  const PickleTree sets = unpickleBytes(bytes);
  ASSERT_EQ(sets->items.size(), 2u);
  EXPECT_EQ(sets->items[1]->items.size(), 1000u);
}

TEST(FuzzRegressions, OneKeyInManyDictsKeepsDictSemantics) {
  // The dict index used to copy every key; it now views the key's own text. A memoised key
  // shared by several dicts, a repeated key (first position, last value) and str '1' vs int 1.
  const std::string bytes = "\x80\x02(" "}" + pStr("k") + pPut(0) + "K\x01s" + "}(" + pGet(0) +
                            "K\x02" + pStr("1") + "K\x03" "K\x01K\x04" + pGet(0) + "K\x05" +
                            "u" "t.";
  const PickleTree v = unpickleBytes(bytes);
  ASSERT_EQ(v->items.size(), 2u);
  EXPECT_EQ(v->items[0]->get("k")->integer, 1);
  const PickleValue& d = *v->items[1];
  ASSERT_EQ(d.entries.size(), 3u);
  EXPECT_EQ(d.entries[0].first->text, "k");
  EXPECT_EQ(d.entries[0].second->integer, 5);  // kept its first position, took the last value
  EXPECT_EQ(d.entries[1].first->kind, Kind::String);
  EXPECT_EQ(d.entries[2].first->kind, Kind::Int);
  EXPECT_EQ(d.entries[2].second->integer, 4);
}

TEST(FuzzRegressions, LargeDictsKeepDictSemantics) {
  // Dicts past 8 entries find keys through an open-addressing index: a repeated key keeps its
  // first position and takes the last value, str '5' and int 5 stay apart, int keys that
  // differ by multiples of 2^20 (one bucket of a table indexed by the low bits) all stay.
  std::string bytes = "\x80\x02}(";
  for (int i = 0; i < 100; ++i) bytes += pStr("k" + std::to_string(i)) + pInt(i);
  for (int i = 0; i < 50; ++i) bytes += pInt(int64_t(i) << 20) + pInt(1000 + i);
  bytes += pStr("k7") + pInt(-7) + pStr("5") + pInt(-5) + pInt(5) + pInt(55) + pStr("k99") + pInt(-99);
  bytes += "u.";
  const PickleTree d = unpickleBytes(bytes);
  ASSERT_EQ(d->entries.size(), 100u + 50u + 2u);  // str '5' and int 5 are new keys
  EXPECT_EQ(d->entries[7].first->text, "k7");
  EXPECT_EQ(d->entries[7].second->integer, -7);
  EXPECT_EQ(d->entries[99].second->integer, -99);
  EXPECT_EQ(d->entries[100].first->integer, 0);
  EXPECT_EQ(d->entries[149].first->integer, int64_t{49} << 20);
  EXPECT_EQ(d->entries[149].second->integer, 1049);
  EXPECT_EQ(d->entries[150].first->kind, Kind::String);
  EXPECT_EQ(d->entries[150].first->text, "5");
  EXPECT_EQ(d->entries[150].second->integer, -5);
  EXPECT_EQ(d->entries[151].first->kind, Kind::Int);
  EXPECT_EQ(d->entries[151].first->integer, 5);
  EXPECT_EQ(d->entries[151].second->integer, 55);
}

TEST(FuzzRegressions, LongKeyPathsAreNotFollowed) {
  // One memoised 60 KB key nested 250 deep: every path on the way down held a copy of all
  // of it above (2.5 GB from a 61 KB pickle). Paths over 1024 characters stop, noted.
  const std::string key(60000, '.');
  // {'meta': None, 'a': {K: {K: ... {K: None}}}}, the chain 250 dicts deep.
  std::string bytes = "\x80\x02}" + pStr("meta") + "Ns" + pStr(key) + pPut(0) + "0" + pStr("a");
  for (int i = 0; i < 250; ++i) bytes += "}" + pGet(0);
  bytes += "N" + std::string(251, 's') + ".";
  const PickleTree root = unpickleBytes(bytes);
  const Checkpoint cp = flattenCheckpoint(*root, "p.pkl");
  size_t chars = 0;
  for (const auto& s : cp.skipped) chars += s.size();
  EXPECT_LT(chars, 4096u);
  ASSERT_EQ(cp.skipped.size(), 2u);
  EXPECT_EQ(cp.skipped[0], "meta (None)");
  EXPECT_NE(cp.skipped[1].find("a path longer than 1024 characters, not followed"),
            std::string::npos)
      << cp.skipped[1];
}

TEST(FuzzRegressions, SkippedLeavesAreListedUpToAThousand) {
  // An optimizer's param_groups may list thousands of ints; a hostile pickle, millions.
  const std::string bytes = "\x80\x02](" + std::string(1500, 'N') + "e.";
  const Checkpoint cp = flattenCheckpoint(*unpickleBytes(bytes), "p.pkl");
  ASSERT_EQ(cp.skipped.size(), 1001u);
  EXPECT_EQ(cp.skipped[999], "999 (None)");
  EXPECT_EQ(cp.skipped[1000], "... and 500 more non-tensor entries (not listed)");
}

TEST(FuzzRegressions, PrefixSearchStaysLinearInNameLength) {
  // 3000 names of 4000 characters and 2000 dots each (a 12 MB safetensors header can hold
  // them): the candidate search copied the rest of the name at every dot, 12 GB of copies
  // (seconds to minutes); it now looks up views. The bound is on the bytes it copies, not on
  // time (bench/header_scaling.py measures time): the names themselves are 12 MB, and a
  // linear search copies each candidate prefix a few times at most.
  std::string deep;
  for (int i = 0; i < 1995; ++i) deep += "m.";
  NamedTensors tensors;
  for (int i = 0; i < 3000; ++i)
    tensors.emplace_back(std::to_string(i) + "." + deep + "conv.weight", at::zeros({1}));
  tensors.emplace_back("net." + deep + "conv.weight", at::ones({2}));
  tensors.emplace_back("net." + deep + "conv.bias", at::ones({2}));
  uint64_t namesBytes = 0;
  for (const auto& [name, t] : tensors) namesBytes += name.size();
  std::optional<ModuleState> ms;
  uint64_t copied = 0;
  {
    const AllocationCount count;
    ms = extractModuleState(tensors, {"conv.weight", "conv.bias"}, std::nullopt, "big.pt");
    copied = count.bytes();
  }
  EXPECT_EQ(ms->prefix, "net." + deep);
  ASSERT_EQ(ms->state.size(), 2u);
  EXPECT_GT(copied, 0u) << "the allocation count saw nothing: is operator new replaced?";
  EXPECT_LT(copied, 8 * namesBytes) << "copied " << copied << " bytes for " << namesBytes
                                     << " bytes of names: quadratic in the name length";

  // A prefix fitting many places is listed up to 8 of them, not collected in full.
  const std::string msg = errorOf([&] {
    extractModuleState(tensors, {"other.weight"}, std::string("m."), "big.pt");
  }, ErrorKind::Weights);
  EXPECT_NE(msg.find("the weights prefix 'm.' fits several places: '0.m.', "), std::string::npos)
      << msg;
  EXPECT_NE(msg.find(", ...; a longer prefix picks one"), std::string::npos) << msg;
  // 8 places and the sentence around them; the full list here would run to thousands.
  EXPECT_LT(msg.size(), 240u) << msg;
}

TEST(FuzzRegressions, TorchSaveCheckpointsCostAFewAllocationsPerTensor) {
  // issue 17, linear-time headers: a torch.save state_dict of N one-element tensors. Reading
  // it must cost the same number of allocations per tensor whatever N (linear), and few of
  // them: each was an object the unpickler built or a copy it made, and they were most of
  // the ~25 us per tensor that a 100,000-tensor checkpoint took to inspect. Counted, not
  // timed (bench/header_scaling.py measures time).
  test::TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import torch
for n in (1000, 2000, 8000):
    torch.save({f"t{i}": torch.zeros(1) for i in range(n)}, f"n{n}.pt")
    torch.save({f"t{i}": torch.zeros(1, 1) for i in range(n)}, f"m{n}.pt")
)PY"));
  // Operator-new calls per tensor from 2,000 to 8,000 tensors (and from 1,000 to 2,000).
  const auto perTensor = [&](const std::string& stem, at::IntArrayRef shape) {
    std::map<int, uint64_t> calls;
    for (const int n : {1000, 2000, 8000}) {
      std::optional<Checkpoint> cp;
      {
        const AllocationCount count;
        cp = readCheckpoint(dir.file(stem + std::to_string(n) + ".pt"));
        calls[n] = count.calls();
      }
      EXPECT_EQ(cp->tensors.size(), size_t(n));
      EXPECT_EQ(cp->tensors.back().first, "t" + std::to_string(n - 1));
      EXPECT_EQ(cp->tensors.back().second.sizes(), shape);
    }
    return std::make_pair(double(calls[2000] - calls[1000]) / 1000, double(calls[8000] - calls[2000]) / 6000);
  };
  const auto [small, large] = perTensor("n", {1});
  EXPECT_GT(small, 0) << "the allocation count saw nothing: is operator new replaced?";
  EXPECT_LT(large, small * 1.1) << "allocations per tensor grow with the count: " << small
                                << " from 1,000 to 2,000 tensors, " << large << " from 2,000 to 8,000";
  // torch.save writes 9 pickle objects per tensor. The reader made about 34 allocations per
  // tensor (a dispatcher call, joined allow-list names, copied names and shape vectors),
  // then 21 (a shared_ptr per object it kept). Its objects now live in one arena, so what
  // is left is LibTorch's for the storage: its StorageImpl, TensorImpl and version counter
  // (the data is malloc'd, not counted). A 1-D tensor that is its whole storage is that
  // tensor; any other shape is a view of it: a TensorImpl and a version counter more.
  EXPECT_LT(large, 3.5) << large << " allocations per [1] tensor";
  const auto [small2d, large2d] = perTensor("m", {1, 1});
  EXPECT_LT(large2d, 5.5) << large2d << " allocations per [1, 1] tensor (" << small2d << " from 1,000 to 2,000)";
}

}  // namespace
}  // namespace fl
