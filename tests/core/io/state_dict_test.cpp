#include "core/io/state_dict.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/nn/modules.h>
#include <torch/utils.h>

#include <filesystem>

#include "core/io/npy.h"
#include "core/io/safetensors.h"
#include "io_test_support.h"

namespace fl {
namespace {

using test::errorOf;
using test::TempDir;

const at::Tensor* findTensor(const NamedTensors& sd, const std::string& name) {
  for (const auto& [k, v] : sd)
    if (k == name) return &v;
  return nullptr;
}

std::vector<std::string> keysOf(const NamedTensors& sd) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : sd) keys.push_back(k);
  return keys;
}

/// The C++ twin of nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)).
torch::nn::Sequential convBn() {
  return torch::nn::Sequential(torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 3).padding(1)),
                               torch::nn::BatchNorm2d(4));
}

const std::vector<std::string> kConvBnKeys = {"0.weight",
                                              "0.bias",
                                              "1.weight",
                                              "1.bias",
                                              "1.running_mean",
                                              "1.running_var",
                                              "1.num_batches_tracked"};

/// A trained-looking Conv+BN, saved by torch.save, with every tensor also as .npy and a
/// reference forward pass.
const char* kConvBnFixture = R"PY(
import numpy as np, torch, torch.nn as nn
torch.manual_seed(0)
m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))
m.train()
for _ in range(3):
    m(torch.randn(2, 3, 5, 5) * 2 + 1)
m.eval()
sd = m.state_dict()
assert int(sd['1.num_batches_tracked']) == 3
torch.save(sd, 'weights.pt')
torch.save(dict(sd), 'plain_dict.pt')
for k, v in sd.items():
    np.save('sd_' + k + '.npy', v.numpy())
x = torch.randn(1, 3, 5, 5)
np.save('x.npy', x.numpy())
np.save('y.npy', m(x).detach().numpy())
torch.save(sd, 'old.pt', _use_new_zipfile_serialization=False)
)PY";

void expectMatchesNpy(const TempDir& dir, const NamedTensors& sd) {
  ASSERT_EQ(keysOf(sd), kConvBnKeys);
  for (const auto& [k, v] : sd) {
    const at::Tensor ref = readNpy(dir.file("sd_" + k + ".npy"));
    EXPECT_EQ(v.scalar_type(), ref.scalar_type()) << k;
    EXPECT_EQ(v.sizes(), ref.sizes()) << k;
    EXPECT_TRUE(at::equal(v, ref)) << k;
  }
  const at::Tensor& nbt = *findTensor(sd, "1.num_batches_tracked");
  EXPECT_EQ(nbt.scalar_type(), at::kLong);
  EXPECT_EQ(nbt.dim(), 0);
  EXPECT_EQ(nbt.item<int64_t>(), 3);
}

TEST(StateDict, TorchSaveOfConvBatchNormLoadsOneToOne) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kConvBnFixture));
  const NamedTensors sd = readStateDict(dir.file("weights.pt"));
  expectMatchesNpy(dir, sd);

  torch::nn::Sequential m = convBn();
  const WeightsReport report = loadStateDict(*m, sd, "weights.pt");
  EXPECT_TRUE(report.ok()) << report.summary();
  EXPECT_EQ(report.matched.size(), 7u);
  EXPECT_EQ(report.summary(), "");
  m->eval();
  torch::NoGradGuard noGrad;
  const at::Tensor y = m->forward(readNpy(dir.file("x.npy")));
  const at::Tensor ref = readNpy(dir.file("y.npy"));
  EXPECT_TRUE(at::allclose(y, ref, 1e-5, 1e-6)) << (y - ref).abs().max();
  for (const auto& [k, v] : moduleStateDict(*m)) EXPECT_TRUE(at::equal(v, *findTensor(sd, k))) << k;
}

TEST(StateDict, PlainDictOfTensorsLoadsToo) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kConvBnFixture));
  expectMatchesNpy(dir, readStateDict(dir.file("plain_dict.pt")));
}

TEST(StateDict, ArchiveFolderMayBeNamedArchive) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, std::string(kConvBnFixture) + R"PY(
import zipfile
with zipfile.ZipFile('weights.pt') as src, zipfile.ZipFile('renamed.bin', 'w') as dst:
    for info in src.infolist():
        assert info.filename.startswith('weights/')
        dst.writestr('archive/' + info.filename[len('weights/'):], src.read(info),
                     compress_type=zipfile.ZIP_DEFLATED)
)PY"));
  expectMatchesNpy(dir, readStateDict(dir.file("renamed.bin")));
}

TEST(StateDict, SharedStorageAndNonContiguousViews) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import torch, zipfile
t = torch.arange(12.).reshape(3, 4)
torch.save({'a': t, 'b': t.t(), 'c': t[1], 'd': t[:, 2], 'e': t[1:, 1:3], 'tied': t}, 'tied.pt')
names = zipfile.ZipFile('tied.pt').namelist()
assert len([n for n in names if '/data/' in n]) == 1, names
)PY"));
  const NamedTensors sd = readStateDict(dir.file("tied.pt"));
  ASSERT_EQ(keysOf(sd), (std::vector<std::string>{"a", "b", "c", "d", "e", "tied"}));
  const at::Tensor t = at::arange(12, at::kFloat).reshape({3, 4});
  EXPECT_TRUE(at::equal(*findTensor(sd, "a"), t));
  const at::Tensor& b = *findTensor(sd, "b");
  EXPECT_EQ(b.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(b.strides(), (std::vector<int64_t>{1, 4}));
  EXPECT_TRUE(at::equal(b, t.t()));
  EXPECT_EQ(b[3][2].item<float>(), 11.0f);
  EXPECT_TRUE(at::equal(*findTensor(sd, "c"), at::tensor({4.f, 5.f, 6.f, 7.f})));
  EXPECT_TRUE(at::equal(*findTensor(sd, "d"), at::tensor({2.f, 6.f, 10.f})));
  EXPECT_TRUE(at::equal(*findTensor(sd, "e"), at::tensor({5.f, 6.f, 9.f, 10.f}).reshape({2, 2})));
  // Views of one storage, as in PyTorch (tied weights).
  EXPECT_EQ(findTensor(sd, "a")->data_ptr(), findTensor(sd, "tied")->data_ptr());
  EXPECT_EQ(findTensor(sd, "a")->data_ptr(), b.data_ptr());
}

TEST(StateDict, HalfBFloat16DoubleAndIntegerDtypes) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import torch
torch.save({
    'h': torch.tensor([1.5, -2.25], dtype=torch.float16),
    'bf': torch.tensor([1.5, -2.25, 3.0], dtype=torch.bfloat16),
    'd': torch.tensor([1 / 3, -1e300], dtype=torch.float64),
    'i8': torch.tensor([-128, 127], dtype=torch.int8),
    'u8': torch.tensor([0, 255], dtype=torch.uint8),
    'i16': torch.tensor([-30000], dtype=torch.int16),
    'i32': torch.tensor([2**31 - 1], dtype=torch.int32),
    'b': torch.tensor([True, False]),
    'p': torch.nn.Parameter(torch.full((2,), 0.25)),
}, 'dtypes.pt')
)PY"));
  const NamedTensors sd = readStateDict(dir.file("dtypes.pt"));
  ASSERT_EQ(sd.size(), 9u);
  const at::Tensor& h = *findTensor(sd, "h");
  EXPECT_EQ(h.scalar_type(), at::kHalf);
  EXPECT_EQ(h[1].item<float>(), -2.25f);
  const at::Tensor& bf = *findTensor(sd, "bf");
  EXPECT_EQ(bf.scalar_type(), at::kBFloat16);
  EXPECT_EQ(bf[0].item<float>(), 1.5f);
  EXPECT_EQ(bf[2].item<float>(), 3.0f);
  const at::Tensor& d = *findTensor(sd, "d");
  EXPECT_EQ(d.scalar_type(), at::kDouble);
  EXPECT_EQ(d[0].item<double>(), 1.0 / 3);
  EXPECT_EQ(d[1].item<double>(), -1e300);
  EXPECT_EQ(findTensor(sd, "i8")->scalar_type(), at::kChar);
  EXPECT_EQ((*findTensor(sd, "i8"))[0].item<int8_t>(), -128);
  EXPECT_EQ((*findTensor(sd, "u8"))[1].item<uint8_t>(), 255);
  EXPECT_EQ((*findTensor(sd, "i16"))[0].item<int16_t>(), -30000);
  EXPECT_EQ((*findTensor(sd, "i32"))[0].item<int32_t>(), 2147483647);
  EXPECT_TRUE(at::equal(*findTensor(sd, "b"), at::tensor({1, 0}).to(at::kBool)));
  EXPECT_TRUE(at::equal(*findTensor(sd, "p"), at::full({2}, 0.25f)));
}

TEST(StateDict, LegacyFormatIsRefusedWithResaveAdvice) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kConvBnFixture));
  const std::string path = dir.file("old.pt");
  const std::string msg = errorOf([&] { readStateDict(path); });
  EXPECT_EQ(msg.rfind(path + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("legacy"), std::string::npos) << msg;
  EXPECT_NE(msg.find("torch.save(sd, path)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("_use_new_zipfile_serialization=True"), std::string::npos) << msg;
}

// Built by Python as torch.save would lay them out; never loaded by Python.
TEST(StateDict, MaliciousPicklesInArchivesAreRefusedByName) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import os, pickle, zipfile
class Shell:
    def __reduce__(self):
        return (os.system, ('touch pwned',))
class Eval:
    def __reduce__(self):
        return (eval, ("open('pwned', 'w')",))
def archive(path, obj, proto):
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('archive/data.pkl', pickle.dumps(obj, protocol=proto))
        z.writestr('archive/version', '3\n')
archive('system.pt', Shell(), 2)
archive('nested.pt', {'0.weight': Shell()}, 2)
archive('eval.pt', Eval(), 4)
)PY"));
  for (const char* name : {"system.pt", "nested.pt"}) {
    const std::string msg = errorOf([&] { readStateDict(dir.file(name)); });
    EXPECT_NE(msg.find(dir.file(name) + ": pickle global 'posix.system' is not allowed"),
              std::string::npos)
        << msg;
  }
  const std::string msg = errorOf([&] { readStateDict(dir.file("eval.pt")); });
  EXPECT_NE(msg.find("pickle global 'builtins.eval' is not allowed"), std::string::npos) << msg;
  EXPECT_FALSE(std::filesystem::exists(dir.file("pwned")));
}

TEST(StateDict, TruncatedWrongMagicAndEmptyFiles) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, kConvBnFixture));
  std::vector<uint8_t> bytes = test::readBytes(dir.file("weights.pt"));
  bytes.resize(bytes.size() * 2 / 3);
  test::writeBytes(dir.file("cut.pt"), bytes);
  std::string msg = errorOf([&] { readStateDict(dir.file("cut.pt")); });
  EXPECT_NE(msg.find("cut.pt: truncated zip archive"), std::string::npos) << msg;

  test::writeBytes(dir.file("text.pt"), test::bytesOf("definitely not a checkpoint\n"));
  msg = errorOf([&] { readStateDict(dir.file("text.pt")); });
  EXPECT_NE(msg.find("text.pt: is neither a torch.save zip archive nor a .safetensors file"),
            std::string::npos)
      << msg;

  test::writeBytes(dir.file("empty.pt"), {});
  msg = errorOf([&] { readStateDict(dir.file("empty.pt")); });
  EXPECT_NE(msg.find("empty.pt: is empty"), std::string::npos) << msg;

  msg = errorOf([&] { readStateDict(dir.file("absent.pt")); });
  EXPECT_NE(msg.find("absent.pt: cannot open"), std::string::npos) << msg;
}

// Pickles that lie about their storages, crafted with a persistent_id Pickler.
TEST(StateDict, LyingStorageSizesAndViewsBeyondStorage) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import collections, io, pickle, struct, torch, zipfile
STORAGE = object()
class View:
    def __init__(self, offset, size, stride):
        self.args = (STORAGE, offset, size, stride, False, collections.OrderedDict())
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)
class P(pickle.Pickler):
    def persistent_id(self, obj):
        return ('storage', torch.FloatStorage, '0', 'cpu', 4) if obj is STORAGE else None
def archive(path, obj, data):
    buf = io.BytesIO()
    P(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, 'w') as z:
        z.writestr('lie/data.pkl', buf.getvalue())
        z.writestr('lie/data/0', data)
        z.writestr('lie/version', '3\n')
four = struct.pack('<4f', 1, 2, 3, 4)
archive('ok.pt', {'w': View(1, (3,), (1,))}, four)
archive('long.pt', {'w': View(0, (100,), (1,))}, four)
archive('stride.pt', {'w': View(0, (2, 2), (3, 1))}, four)
archive('offset.pt', {'w': View(4, (1,), (1,))}, four)
archive('short.pt', {'w': View(0, (4,), (1,))}, four[:8])
with zipfile.ZipFile('missing.pt', 'w') as z:
    buf = io.BytesIO(); P(buf, protocol=2).dump({'w': View(0, (4,), (1,))})
    z.writestr('lie/data.pkl', buf.getvalue())
)PY"));
  const NamedTensors ok = readStateDict(dir.file("ok.pt"));
  EXPECT_TRUE(at::equal(ok[0].second, at::tensor({2.f, 3.f, 4.f})));

  for (const char* name : {"long.pt", "stride.pt", "offset.pt"}) {
    const std::string msg = errorOf([&] { readStateDict(dir.file(name)); });
    EXPECT_NE(msg.find("reaches past its storage of 4 elements"), std::string::npos) << msg;
  }
  std::string msg = errorOf([&] { readStateDict(dir.file("short.pt")); });
  EXPECT_NE(msg.find("entry 'lie/data/0' holds 8 bytes but the pickle describes 4 Float elements "
                     "(16 bytes)"),
            std::string::npos)
      << msg;
  msg = errorOf([&] { readStateDict(dir.file("missing.pt")); });
  EXPECT_NE(msg.find("storage entry 'lie/data/0' is missing"), std::string::npos) << msg;
}

TEST(StateDict, NonStateDictContentIsDescribed) {
  TempDir dir;
  ASSERT_TRUE(test::runPython(dir, R"PY(
import torch
sd = torch.nn.Linear(2, 2).state_dict()
torch.save({'epoch': 3, 'state_dict': sd}, 'ckpt.pt')
torch.save([torch.ones(2)], 'list.pt')
torch.save({1: torch.ones(2)}, 'intkey.pt')
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), 'script.pt')
)PY"));
  std::string msg = errorOf([&] { readStateDict(dir.file("ckpt.pt")); });
  EXPECT_NE(msg.find("found a dict whose value for 'epoch' is a int"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'state_dict'"), std::string::npos) << msg;
  msg = errorOf([&] { readStateDict(dir.file("list.pt")); });
  EXPECT_NE(msg.find("found a list"), std::string::npos) << msg;
  msg = errorOf([&] { readStateDict(dir.file("intkey.pt")); });
  EXPECT_NE(msg.find("non-string key 1"), std::string::npos) << msg;
  msg = errorOf([&] { readStateDict(dir.file("script.pt")); });
  EXPECT_NE(msg.find("TorchScript"), std::string::npos) << msg;
}

TEST(StateDict, ReadsSafetensors) {
  TempDir dir;
  torch::nn::Sequential m = convBn();
  writeSafetensors(dir.file("w.safetensors"), moduleStateDict(*m));
  const NamedTensors sd = readStateDict(dir.file("w.safetensors"));
  const NamedTensors own = moduleStateDict(*m);
  ASSERT_EQ(keysOf(sd), keysOf(own));
  for (size_t i = 0; i < sd.size(); ++i) EXPECT_TRUE(at::equal(sd[i].second, own[i].second));
}

TEST(StateDict, ModuleStateDictUsesDottedPythonNames) {
  torch::nn::Sequential m = convBn();
  const NamedTensors sd = moduleStateDict(*m);
  std::vector<std::string> keys = keysOf(sd);
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> expected = kConvBnKeys;
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(keys, expected);
  const at::Tensor& nbt = *findTensor(sd, "1.num_batches_tracked");
  EXPECT_EQ(nbt.scalar_type(), at::kLong);
  EXPECT_EQ(nbt.dim(), 0);
}

TEST(StateDict, MismatchesAreReportedAndNothingIsCopied) {
  torch::nn::Sequential m = convBn();
  NamedTensors before;
  for (const auto& [k, v] : moduleStateDict(*m)) before.emplace_back(k, v.clone());

  NamedTensors state;
  for (const auto& [k, v] : moduleStateDict(*m)) {
    if (k == "1.bias") continue;  // missing
    if (k == "0.weight")
      state.emplace_back(k, at::ones({4, 3, 1, 1}));  // wrong shape
    else
      state.emplace_back(k, at::full_like(v, 42));  // would be copied
  }
  state.emplace_back("extra.weight", at::ones({2}));  // unexpected

  const WeightsReport report = matchStateDict(*m, state);
  EXPECT_FALSE(report.ok());
  EXPECT_EQ(report.missing, (std::vector<std::string>{"1.bias [4]"}));
  EXPECT_EQ(report.unexpected, (std::vector<std::string>{"extra.weight [2]"}));
  EXPECT_EQ(report.mismatched,
            (std::vector<std::string>{"0.weight: file [4, 3, 1, 1] vs module [4, 3, 3, 3]"}));
  EXPECT_EQ(report.matched.size(), 5u);
  EXPECT_EQ(report.summary(),
            "1 missing: 1.bias [4]; 1 unexpected: extra.weight [2]; 1 mismatched: 0.weight: file "
            "[4, 3, 1, 1] vs module [4, 3, 3, 3]");

  const std::string msg = errorOf([&] { loadStateDict(*m, state, "w.pt"); }, ErrorKind::Weights);
  EXPECT_EQ(msg.rfind("w.pt: ", 0), 0u) << msg;
  for (const char* key : {"1.bias [4]", "extra.weight [2]", "0.weight: file [4, 3, 1, 1]"})
    EXPECT_NE(msg.find(key), std::string::npos) << msg;
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;

  // Untouched: not even the keys that matched were copied.
  const NamedTensors after = moduleStateDict(*m);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_TRUE(at::equal(after[i].second, before[i].second)) << after[i].first;
}

TEST(StateDict, LoadConvertsDtypes) {
  torch::nn::Sequential m = convBn();
  NamedTensors state;
  for (const auto& [k, v] : moduleStateDict(*m)) {
    if (k == "1.num_batches_tracked")
      state.emplace_back(k, at::scalar_tensor(5, at::kInt));
    else
      state.emplace_back(k, at::full(v.sizes(), 1.0 / 3, at::kDouble));
  }
  const WeightsReport report = loadStateDict(*m, state, "w.pt");
  EXPECT_TRUE(report.ok());
  for (const auto& [k, v] : moduleStateDict(*m)) {
    if (k == "1.num_batches_tracked") {
      EXPECT_EQ(v.scalar_type(), at::kLong);
      EXPECT_EQ(v.item<int64_t>(), 5);
    } else {
      EXPECT_EQ(v.scalar_type(), at::kFloat) << k;
      EXPECT_TRUE(at::equal(v, at::full(v.sizes(), float(1.0 / 3)))) << k;
    }
  }
  // Parameters keep requiring grad after a copy under NoGradGuard.
  EXPECT_TRUE(findTensor(moduleStateDict(*m), "0.weight")->requires_grad());
}

}  // namespace
}  // namespace fl
