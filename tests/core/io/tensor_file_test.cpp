// Input tensor files: .npy (every numeric dtype, C and Fortran order), .npz (stored and
// deflated), .pt/.pth (a tensor or a dict of tensors), .safetensors; channels-last.
#include "core/io/tensor_file.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/io/npz.h"
#include "core/io/safetensors.h"
#include "io_test_support.h"

namespace fl {
namespace {

using test::errorOf;
using test::TempDir;

const char* kFixture = R"PY(
import numpy as np, torch, collections
a = np.arange(2 * 3 * 4, dtype=np.float64).reshape(2, 3, 4) - 7
np.save('ref.npy', a.astype(np.float32))
for dt in ['<f2', '<f4', '<f8', '>f4', '>f8', '<i1', '<i2', '<i4', '<i8', '>i4', '|u1', '<u2',
           '<u4', '<u8', '>u2']:
    v = a if dt[1] in 'fi' else np.abs(a)
    np.save('a_%s%s.npy' % (dt[1:], '_be' if dt[0] == '>' else ''), v.astype(dt))
np.save('fortran.npy', np.asfortranarray(a.astype(np.float32)))
np.save('big_u8.npy', np.array([[2**64 - 1, 5]], dtype=np.uint64))
np.savez('stored.npz', x=a.astype(np.float32), y=np.ones((4, 4), np.float32))
np.savez_compressed('deflated.npz', feats=a.astype(np.float32))
np.savez('one.npz', only=a.astype(np.float32))
t = torch.tensor(a, dtype=torch.float32)
torch.save(t, 'tensor.pt')
torch.save({'x': t, 'y': t * 2}, 'dict.pth')
torch.save({'feats': {'x': t.half()}, 'meta': 3}, 'nested.pt')
hwc = a.astype(np.float32).transpose(1, 2, 0)  # [H=3, W=4, C=2]
np.save('hwc.npy', hwc)
np.save('bhwc.npy', np.stack([hwc, hwc + 1]))
np.save('c_big.npy', np.zeros((1, 2, 2, 2, 2), np.float32))
np.save('complex.npy', np.ones((2, 2), np.complex64))
)PY";

class TensorFiles : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ASSERT_TRUE(test::runPython(*dir_, kFixture));
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string file(const std::string& name) { return dir_->file(name); }
  static at::Tensor ref() { return readInputTensor(file("ref.npy")); }
  static TempDir* dir_;
};
TempDir* TensorFiles::dir_ = nullptr;

TEST_F(TensorFiles, EveryNumericNpyDtypeBecomesFloatNchw) {
  const at::Tensor r = ref();
  ASSERT_EQ(r.sizes(), (std::vector<int64_t>{1, 2, 3, 4}));
  for (const std::string dt : {"f2", "f4", "f8", "f4_be", "f8_be", "i1", "i2", "i4", "i8",
                               "i4_be"}) {
    const at::Tensor t = readInputTensor(file("a_" + dt + ".npy"));
    EXPECT_EQ(t.scalar_type(), at::kFloat) << dt;
    EXPECT_TRUE(at::equal(t, r)) << dt;
  }
  for (const std::string dt : {"u1", "u2", "u4", "u8", "u2_be"}) {
    const at::Tensor t = readInputTensor(file("a_" + dt + ".npy"));
    EXPECT_TRUE(at::equal(t, r.abs())) << dt;
  }
  EXPECT_TRUE(at::equal(readInputTensor(file("fortran.npy")), r));
}

TEST_F(TensorFiles, Uint64BeyondInt64IsExact) {
  const at::Tensor t = readInputTensor(file("big_u8.npy"));
  EXPECT_EQ(t.sizes(), (std::vector<int64_t>{1, 1, 1, 2}));
  EXPECT_FLOAT_EQ(t[0][0][0][0].item<float>(), 18446744073709551615.0f);
  EXPECT_FLOAT_EQ(t[0][0][0][1].item<float>(), 5.0f);
}

TEST_F(TensorFiles, NpzStoredDeflatedAndByName) {
  EXPECT_EQ(listNpz(file("stored.npz")), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(at::equal(readInputTensor(file("stored.npz") + ":x"), ref()));
  EXPECT_EQ(readInputTensor(file("stored.npz:y")).sizes(), (std::vector<int64_t>{1, 1, 4, 4}));
  EXPECT_TRUE(at::equal(readInputTensor(file("deflated.npz")), ref()));
  EXPECT_TRUE(at::equal(readInputTensor(file("one.npz")), ref()));
  std::string msg = errorOf([] { readInputTensor(file("stored.npz")); });
  EXPECT_NE(msg.find("holds 2 arrays; pick one as"), std::string::npos) << msg;
  EXPECT_NE(msg.find("x, y"), std::string::npos) << msg;
  msg = errorOf([] { readInputTensor(file("stored.npz:z")); });
  EXPECT_NE(msg.find("no array named 'z' (arrays: x, y)"), std::string::npos) << msg;
  EXPECT_EQ(readNpz(file("stored.npz")).size(), 2u);
}

TEST_F(TensorFiles, TorchSaveTensorsAndDicts) {
  EXPECT_TRUE(at::equal(readInputTensor(file("tensor.pt")), ref()));
  EXPECT_TRUE(at::equal(readInputTensor(file("dict.pth") + ":y"), ref() * 2));
  EXPECT_TRUE(at::equal(readInputTensor(file("nested.pt")), ref()));  // one tensor in it
  EXPECT_TRUE(at::equal(readInputTensor(file("nested.pt") + ":feats.x"), ref()));
  const std::string msg = errorOf([] { readInputTensor(file("dict.pth")); });
  EXPECT_NE(msg.find("holds 2 tensors; pick one as"), std::string::npos) << msg;
  EXPECT_NE(msg.find("x, y"), std::string::npos) << msg;
  EXPECT_NE(errorOf([] { readInputTensor(file("dict.pth:q")); }).find("no tensor named 'q'"),
            std::string::npos);
  const NamedTensors all = readTensorFile(file("nested.pt"));
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first, "feats.x");
  EXPECT_EQ(all[0].second.scalar_type(), at::kHalf);
}

TEST_F(TensorFiles, SafetensorsByName) {
  writeSafetensors(file("two.safetensors"), {{"a", ref()[0]}, {"b", ref()[0].to(at::kHalf)}});
  EXPECT_TRUE(at::equal(readInputTensor(file("two.safetensors:b")), ref()));
  const std::string msg = errorOf([] { readInputTensor(file("two.safetensors")); });
  EXPECT_NE(msg.find("holds 2 tensors; pick one as"), std::string::npos) << msg;
}

TEST_F(TensorFiles, ChannelsLast) {
  TensorReadOptions cl;
  cl.channelsLast = true;
  EXPECT_TRUE(at::equal(readInputTensor(file("hwc.npy"), cl), ref()));
  const at::Tensor b = readInputTensor(file("bhwc.npy"), cl);
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{2, 2, 3, 4}));
  EXPECT_TRUE(at::equal(b[1], ref()[0] + 1));
  EXPECT_TRUE(b.is_contiguous());
  // Without the flag the same file is [C=3, H=4, W=2].
  EXPECT_EQ(readInputTensor(file("hwc.npy")).sizes(), (std::vector<int64_t>{1, 3, 4, 2}));
  const std::string msg = errorOf([&] { readInputTensor(file("c_big.npy"), cl); });
  EXPECT_NE(msg.find("[B,H,W,C] for a channels-last tensor"), std::string::npos) << msg;
}

TEST_F(TensorFiles, RefusalsNameTheFile) {
  std::string msg = errorOf([] { readInputTensor(file("complex.npy")); });
  EXPECT_NE(msg.find("complex.npy: unsupported dtype '<c8'"), std::string::npos) << msg;
  msg = errorOf([] { readInputTensor(file("ref.npy:x")); });
  EXPECT_NE(msg.find("holds one array"), std::string::npos) << msg;
  msg = errorOf([] { readInputTensor(file("fixture.py")); });
  EXPECT_NE(msg.find("unsupported input format '.py'"), std::string::npos) << msg;
  msg = errorOf([] { readInputTensor(file("absent.npz")); });
  EXPECT_NE(msg.find("absent.npz: no such file"), std::string::npos) << msg;
}

}  // namespace
}  // namespace fl
