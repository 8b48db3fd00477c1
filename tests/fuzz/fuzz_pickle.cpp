// libFuzzer target: the restricted unpickler (core/io/pickle.h), with a storage loader that
// hands out zero storages of at most 1 Mi elements (as the torch.save reader would after its
// size checks), then the checkpoint flattening of core/io/state_dict.h and a float32 copy of
// every tensor (what `run --input x.pt` makes of it).
#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>

#include "core/common/error.h"
#include "core/io/pickle.h"
#include "core/io/state_dict.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fl::PickleStorageLoader loader = [](const fl::PickleStorageRef& ref) {
    if (ref.numel < 0 || ref.numel > (int64_t{1} << 20)) fl::throwInput("fuzz: storage too big");
    return at::zeros({ref.numel}, at::TensorOptions().dtype(ref.dtype));
  };
  try {
    const fl::PickleTree root = fl::unpickle(data, size, "fuzz.pkl", loader);
    fl::fuzz::consume(fl::flattenCheckpoint(*root, "fuzz.pkl").tensors);
  } catch (const fl::Error&) {
  }
  return 0;
}
