#include "core/io/pickle.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "io_test_support.h"

namespace fl {
namespace {

using Kind = PickleValue::Kind;
using test::errorOf;
using test::TempDir;

/// The bytes of a string literal, embedded NULs included.
template <size_t N>
std::string raw(const char (&s)[N]) {
  return std::string(s, N - 1);
}

PickleTree unpickleBytes(const std::string& bytes, const PickleStorageLoader& loader = {}) {
  return unpickle(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "p.pkl", loader);
}

PickleTree unpickleFile(const std::string& path) {
  const std::vector<uint8_t> b = test::readBytes(path);
  return unpickle(b.data(), b.size(), path);
}

TEST(Pickle, PlainValuesInEveryProtocol) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import pickle, collections
obj = {'int': 7, 'neg': -300, 'big': 2**40, 'min': -2**63, 'f': 1.5, 's': 'h\u00e9llo',
       'b': b'\x00\x01\xff', 'n': None, 't': True, 'l': [1, [2, 3]], 'tup': (1, 'x'),
       3: 'intkey', 'od': collections.OrderedDict([('z', 1), ('a', 2)]), 'set': {5},
       'fs': frozenset([6]), 'e': (), 'el': [], 'long': 10**18}
for p in (2, 3, 4, 5):
    with open('p%d.pkl' % p, 'wb') as f:
        pickle.dump(obj, f, protocol=p)
)PY"));
  for (int p = 2; p <= 5; ++p) {
    SCOPED_TRACE("protocol " + std::to_string(p));
    const PickleTree v = unpickleFile(dir.file("p" + std::to_string(p) + ".pkl"));
    ASSERT_EQ(v->kind, Kind::Dict);
    EXPECT_FALSE(v->ordered);
    ASSERT_EQ(v->entries.size(), 18u);
    EXPECT_EQ(v->entries[0].first->text, "int");  // insertion order
    EXPECT_EQ(v->get("int")->integer, 7);
    EXPECT_EQ(v->get("neg")->integer, -300);
    EXPECT_EQ(v->get("big")->integer, int64_t{1} << 40);
    EXPECT_EQ(v->get("min")->integer, std::numeric_limits<int64_t>::min());
    EXPECT_EQ(v->get("long")->integer, 1000000000000000000LL);
    EXPECT_EQ(v->get("f")->real, 1.5);
    EXPECT_EQ(v->get("s")->kind, Kind::String);
    EXPECT_EQ(v->get("s")->text, "h\xc3\xa9llo");
    EXPECT_EQ(v->get("b")->kind, Kind::Bytes);
    EXPECT_EQ(v->get("b")->text, raw("\x00\x01\xff"));
    EXPECT_EQ(v->get("n")->kind, Kind::None);
    EXPECT_EQ(v->get("t")->kind, Kind::Bool);
    EXPECT_TRUE(v->get("t")->boolean);
    const PickleValuePtr l = v->get("l");
    ASSERT_EQ(l->kind, Kind::List);
    ASSERT_EQ(l->items.size(), 2u);
    EXPECT_EQ(l->items[1]->items[1]->integer, 3);
    EXPECT_EQ(v->get("tup")->kind, Kind::Tuple);
    EXPECT_EQ(v->get("tup")->items[1]->text, "x");
    const auto& intKey = v->entries[11];
    EXPECT_EQ(intKey.first->kind, Kind::Int);
    EXPECT_EQ(intKey.first->integer, 3);
    EXPECT_EQ(intKey.second->text, "intkey");
    const PickleValuePtr od = v->get("od");
    EXPECT_EQ(od->kind, Kind::Dict);
    EXPECT_TRUE(od->ordered);
    EXPECT_EQ(od->typeName(), "OrderedDict");
    ASSERT_EQ(od->entries.size(), 2u);
    EXPECT_EQ(od->entries[0].first->text, "z");
    EXPECT_EQ(od->entries[1].second->integer, 2);
    EXPECT_EQ(v->get("set")->kind, Kind::Set);
    ASSERT_EQ(v->get("set")->items.size(), 1u);
    EXPECT_EQ(v->get("set")->items[0]->integer, 5);
    EXPECT_EQ(v->get("fs")->items[0]->integer, 6);
    EXPECT_TRUE(v->get("e")->items.empty());
    EXPECT_EQ(v->get("el")->kind, Kind::List);
  }
}

TEST(Pickle, SharedReferencesStayShared) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import pickle
x = [1, 2]
pickle.dump([x, x, {'k': x}], open('s.pkl', 'wb'), protocol=2)
)PY"));
  const PickleTree v = unpickleFile(dir.file("s.pkl"));
  ASSERT_EQ(v->items.size(), 3u);
  EXPECT_EQ(v->items[0], v->items[1]);
  EXPECT_EQ(v->items[2]->get("k"), v->items[0]);
  EXPECT_EQ(v->items[0]->items[1]->integer, 2);
}

// Malicious pickles are made by Python with __reduce__ and never loaded by Python.
TEST(Pickle, RefusesCodeExecutingGlobalsByName) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import os, pickle
class Shell:
    def __reduce__(self):
        return (os.system, ('touch pwned',))
class Eval:
    def __reduce__(self):
        return (eval, ("open('pwned', 'w')",))
for p in (2, 4):
    open('system%d.pkl' % p, 'wb').write(pickle.dumps({'w': Shell()}, protocol=p))
    open('eval%d.pkl' % p, 'wb').write(pickle.dumps([Eval()], protocol=p))
)PY"));
  for (int p : {2, 4}) {
    const std::string sys = dir.file("system" + std::to_string(p) + ".pkl");
    std::string msg = errorOf([&] { unpickleFile(sys); });
    EXPECT_NE(msg.find(sys + ": pickle global 'posix.system' is not allowed"), std::string::npos)
        << msg;
    const std::string ev = dir.file("eval" + std::to_string(p) + ".pkl");
    msg = errorOf([&] { unpickleFile(ev); });
    EXPECT_NE(msg.find(ev + ": pickle global 'builtins.eval' is not allowed"), std::string::npos)
        << msg;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("pwned")));
}

TEST(Pickle, RefusesHandWrittenGlobalsAndInst) {
  std::string msg = errorOf([] { unpickleBytes("cos\nsystem\n(S'ls'\ntR."); });
  EXPECT_NE(msg.find("p.pkl: pickle global 'os.system' is not allowed"), std::string::npos) << msg;
  msg = errorOf([] {
    unpickleBytes(
        raw("(X\x02\x00\x00\x00"
            "lsios\nsystem\n."));
  });
  EXPECT_NE(msg.find("pickle global 'os.system' is not allowed"), std::string::npos) << msg;
  msg = errorOf([] {
    unpickleBytes(
        "\x80\x04\x8c\x08"
        "builtins\x8c\x04"
        "exec\x93.");
  });
  EXPECT_NE(msg.find("pickle global 'builtins.exec' is not allowed"), std::string::npos) << msg;
  msg = errorOf([] {
    unpickleBytes(
        "\x80\x02"
        "ctorch\nload\n)R.");
  });
  EXPECT_NE(msg.find("pickle global 'torch.load' is not allowed"), std::string::npos) << msg;
  // Allowed, but not callable.
  msg = errorOf([] {
    unpickleBytes(
        "\x80\x02"
        "ctorch\nFloatStorage\n)R.");
  });
  EXPECT_NE(msg.find("pickle global 'torch.FloatStorage' cannot be called"), std::string::npos)
      << msg;
  // REDUCE on something that is not a global.
  msg = errorOf([] { unpickleBytes("\x80\x02K\x01)R."); });
  EXPECT_NE(msg.find("REDUCE on a int"), std::string::npos) << msg;

  EXPECT_TRUE(isPickleGlobalAllowed("collections", "OrderedDict"));
  EXPECT_TRUE(isPickleGlobalAllowed("__builtin__", "set"));
  EXPECT_TRUE(isPickleGlobalAllowed("torch._utils", "_rebuild_tensor_v2"));
  EXPECT_FALSE(isPickleGlobalAllowed("posix", "system"));
  EXPECT_FALSE(isPickleGlobalAllowed("builtins", "getattr"));
  EXPECT_FALSE(isPickleGlobalAllowed("torch", "load"));
}

TEST(Pickle, HostileStructureIsRefused) {
  auto refuse = [](const std::string& bytes, const std::string& expected) {
    const std::string msg = errorOf([&] { unpickleBytes(bytes); });
    EXPECT_NE(msg.find(expected), std::string::npos) << msg;
    EXPECT_EQ(msg.rfind("p.pkl: ", 0), 0u) << msg;
  };
  refuse(raw("\x80\x02R."), "stack underflow in REDUCE");
  refuse(raw("\x80\x02K\x01(a."), "stack underflow in APPEND");
  refuse(raw("\x80\x02h\x05."), "memo key 5 was never stored");
  refuse(raw("\x80\x02j\x00\x00\x00\x10."), "memo key 268435456 was never stored");
  refuse(raw("\x80\x02X\xff\xff\xff\xff"
             "abc."),
         "BINUNICODE needs 4294967295 bytes but only 4 remain");
  refuse(raw("\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff."), "BINUNICODE8 needs");
  refuse(raw("\x80\x02]q\x00K\x01"), "ends without a STOP opcode");
  refuse(raw("\x80\x02t."), "TUPLE without a MARK");
  refuse(raw("\x80\x07N."), "pickle protocol 7 is not supported");
  refuse(raw("\xff"), "unknown pickle opcode 0xff");
  refuse(raw("\x80\x02"
             "}]K\x01s."),
         "dict key of type list is not supported");
  refuse(raw("\x80\x02"
             "K\x00K\x01K\x02s."),
         "SETITEM on a int");
  refuse(raw("\x80\x02"
             "\x8b\xff\xff\xff\x7f."),
         "LONG4 needs");
  refuse(raw("\x80\x02"
             "\x8a\x09\x01\x01\x01\x01\x01\x01\x01\x01\x01."),
         "integer of 9 bytes does not fit in 64 bits");
  refuse(raw("\x80\x02"
             "X\x01\x00\x00\x00"
             "0Q."),
         "persistent id is a str, not ('storage'");
  refuse("I99999999999999999999999\n.", "INT integer does not fit in 64 bits");
  refuse("\x80\x02\x82\x01.", "extension-registry opcodes");
}

TEST(Pickle, CyclesAreRefused) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import pickle
l = []
l.append(l)
open('cycle.pkl', 'wb').write(pickle.dumps(l, protocol=2))
d = {}
d['self'] = [d]
open('cycle2.pkl', 'wb').write(pickle.dumps(d, protocol=4))
)PY"));
  for (const char* name : {"cycle.pkl", "cycle2.pkl"}) {
    const std::string msg = errorOf([&] { unpickleFile(dir.file(name)); });
    EXPECT_NE(msg.find("reference cycle"), std::string::npos) << msg;
  }
}

TEST(Pickle, DeepNestingIsRefusedWithoutCrashing) {
  // 300 nested lists: over the limit. 200000: must not overflow the stack anywhere.
  for (const int depth : {kPickleMaxDepth + 44, 200000}) {
    std::string bytes = "\x80\x02";
    bytes += std::string(size_t(depth), ']');
    bytes += std::string(size_t(depth - 1), 'a');
    bytes += '.';
    const std::string msg = errorOf([&] { unpickleBytes(bytes); });
    EXPECT_NE(msg.find("nest deeper than 256 levels"), std::string::npos) << msg;
  }
  // At the limit it is fine.
  std::string bytes = "\x80\x02";
  bytes += std::string(size_t(kPickleMaxDepth), ']');
  bytes += std::string(size_t(kPickleMaxDepth - 1), 'a');
  bytes += '.';
  PickleTree v = unpickleBytes(bytes);
  int depth = 1;
  for (const PickleValue* p = v.get(); !p->items.empty(); p = p->items[0]) ++depth;
  EXPECT_EQ(depth, kPickleMaxDepth);
}

TEST(Pickle, PersistentStoragesGoThroughTheLoader) {
  // ('storage', torch.FloatStorage, '7', 'cpu', 6) rebuilt as a [2, 3] tensor, twice.
  const std::string pid =
      raw("(X\x07\x00\x00\x00storageq\x01"
          "ctorch\nFloatStorage\n"
          "X\x01\x00\x00\x00"
          "7X\x03\x00\x00\x00"
          "cpuK\x06tQ");
  const std::string tensor = "ctorch._utils\n_rebuild_tensor_v2\n(" + pid +
                             raw("K\x00K\x02K\x03\x86K\x03K\x01\x86\x89"
                                 "ccollections\nOrderedDict\n)RtR");
  const std::string bytes = raw("\x80\x02]") + "(" + tensor + tensor + "e.";
  int calls = 0;
  const PickleTree v = unpickleBytes(bytes, [&](const PickleStorageRef& ref) {
    ++calls;
    EXPECT_EQ(ref.key, "7");
    EXPECT_EQ(ref.location, "cpu");
    EXPECT_EQ(ref.numel, 6);
    EXPECT_EQ(ref.dtype, at::kFloat);
    return at::arange(6, at::kFloat);
  });
  EXPECT_EQ(calls, 1);  // loaded once, shared
  ASSERT_EQ(v->items.size(), 2u);
  EXPECT_EQ(v->items[0]->kind, Kind::Tensor);
  EXPECT_TRUE(at::equal(v->items[0]->tensor, at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_EQ(v->items[0]->tensor.data_ptr(), v->items[1]->tensor.data_ptr());

  const std::string msg = errorOf([&] { unpickleBytes(bytes); });
  EXPECT_NE(msg.find("no storage loader"), std::string::npos) << msg;
}

/// _rebuild_tensor_v2 of storage `key` (6 floats) at `offset` with one dim of `size`.
std::string oneDimTensor(const std::string& key, int offset, int size) {
  const std::string pid = raw("((X\x07\x00\x00\x00" "storage") + "ctorch\nFloatStorage\nX" +
                          std::string(1, char(key.size())) + std::string(3, '\0') + key +
                          raw("X\x03\x00\x00\x00" "cpuK\x06tQ");
  return "ctorch._utils\n_rebuild_tensor_v2\n" + pid + "K" + std::string(1, char(offset)) + "K" +
         std::string(1, char(size)) + raw("\x85K\x01\x85\x89" "ccollections\nOrderedDict\n)RtR");
}

TEST(Pickle, StorageKeysInAnyOrderAndWholeStorageTensors) {
  // torch.save numbers storages "0", "1", ... in order (found by number); any other order or
  // key goes through a map. A 1-D tensor that is its whole storage is the loader's tensor
  // itself the first time; every later one gets a view of its own, so no two tensors of
  // the tree share a TensorImpl.
  const std::string bytes = raw("\x80\x02]") + "(" + oneDimTensor("1", 0, 6) + oneDimTensor("0", 0, 6) +
                            oneDimTensor("1", 0, 6) + oneDimTensor("00", 2, 4) + oneDimTensor("x", 0, 6) +
                            oneDimTensor("0", 0, 6) + "e.";
  std::vector<std::string> loaded;
  std::vector<at::Tensor> made;
  const PickleTree v = unpickleBytes(bytes, [&](const PickleStorageRef& ref) {
    loaded.push_back(ref.key);
    made.push_back(at::arange(6, at::kFloat) + 10 * double(loaded.size()));
    return made.back();
  });
  EXPECT_EQ(loaded, (std::vector<std::string>{"1", "0", "00", "x"}));
  ASSERT_EQ(v->items.size(), 6u);
  const auto tensor = [&](size_t i) { return v->items[i]->tensor; };
  for (size_t i = 0; i < 6; ++i) {
    ASSERT_EQ(v->items[i]->kind, Kind::Tensor);
    for (size_t j = 0; j < i; ++j)
      EXPECT_NE(tensor(i).unsafeGetTensorImpl(), tensor(j).unsafeGetTensorImpl()) << i << " " << j;
  }
  EXPECT_EQ(tensor(0).unsafeGetTensorImpl(), made[0].unsafeGetTensorImpl());  // "1", whole
  EXPECT_EQ(tensor(1).unsafeGetTensorImpl(), made[1].unsafeGetTensorImpl());  // "0", whole
  EXPECT_EQ(tensor(2).data_ptr(), tensor(0).data_ptr());                      // "1" again: a view
  EXPECT_TRUE(at::equal(tensor(2), made[0]));
  EXPECT_EQ(tensor(3).storage_offset(), 2);                                   // "00" is not "0"
  EXPECT_TRUE(at::equal(tensor(3), made[2].slice(0, 2)));
  EXPECT_TRUE(at::equal(tensor(4), made[3]));
  EXPECT_EQ(tensor(5).data_ptr(), tensor(1).data_ptr());
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(tensor(i).strides(), at::IntArrayRef({1}));
    EXPECT_TRUE(tensor(i).is_contiguous());
  }
}

}  // namespace
}  // namespace fl
