// TorchScript backbones (docs/features.md, "torchscript"): a checked load, forward on the
// CPU without autograd, pick the output, check it is [B,C,H,W]. Loaded modules are cached
// per (path, size, modification time) behind a mutex; each cached module runs one forward
// at a time.
#include <torch/script.h>

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>

#include "core/common/error.h"
#include "core/io/tensor_io.h"
#include "core/features/extractors.h"
#include "core/io/torchscript_safety.h"

namespace fl::detail {
namespace {

struct Loaded {
  std::mutex mutex;  // one forward at a time per module
  torch::jit::Module module;
};

class ModuleCache {
 public:
  std::shared_ptr<Loaded> get(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) throwInput("TorchScript model '" + path + "' not found");
    const auto size = std::filesystem::file_size(path, ec);
    const auto time = std::filesystem::last_write_time(path, ec).time_since_epoch().count();
    const std::string key = path + "|" + std::to_string(size) + "|" + std::to_string(time);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (auto it = entries_.find(key); it != entries_.end()) return it->second;
    }
    auto loaded = std::make_shared<Loaded>();
    // The one checked loader (core/io/torchscript_safety.h): a regular file, storage records
    // complete, archive checks, then only allow-listed operators.
    loaded->module = script::loadCheckedModule(path);
    std::lock_guard<std::mutex> lock(mutex_);
    if (entries_.size() >= 8) entries_.clear();  // a small cache; models are reloadable
    entries_[key] = loaded;
    return loaded;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Loaded>> entries_;
};

ModuleCache& cache() {
  static ModuleCache instance;  // the one shared cache; guarded by its mutex
  return instance;
}

}  // namespace

at::Tensor torchscriptFeatures(const at::Tensor& image, const std::string& path, int64_t output) {
  const std::shared_ptr<Loaded> loaded = cache().get(path);
  c10::IValue result;
  {
    std::lock_guard<std::mutex> lock(loaded->mutex);
    torch::NoGradGuard noGrad;
    try {
      result = loaded->module.forward({image});
    } catch (const c10::Error& e) {
      throwInput("TorchScript model '" + path + "' failed on an input of shape " +
                 shapeText(image.sizes()) + ": " + firstLine(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      throwInput("TorchScript model '" + path + "' failed: " + firstLine(e.what()));
    }
  }

  c10::IValue picked;
  if (result.isTensor()) {
    if (output != 0) {
      throwInput("TorchScript model '" + path + "' returns a single tensor; output=" +
                 std::to_string(output) + " does not exist (use output=0)");
    }
    picked = result;
  } else if (result.isTuple() || result.isList()) {
    const std::vector<c10::IValue> items =
        result.isTuple() ? result.toTupleRef().elements().vec() : result.toListRef().vec();
    if (output < 0 || output >= static_cast<int64_t>(items.size())) {
      throwInput("TorchScript model '" + path + "' returns " + std::to_string(items.size()) +
                 " outputs; output=" + std::to_string(output) + " is out of range (0.." +
                 std::to_string(static_cast<int64_t>(items.size()) - 1) + ")");
    }
    picked = items[static_cast<size_t>(output)];
  } else {
    throwInput("TorchScript model '" + path + "' returns a " + result.tagKind() +
               "; expected a tensor, or a tuple or list of tensors");
  }
  if (!picked.isTensor()) {
    throwInput("TorchScript model '" + path + "': output " + std::to_string(output) + " is a " +
               picked.tagKind() + ", not a tensor");
  }
  at::Tensor t = picked.toTensor();
  if (t.dim() != 4) {
    throwInput("TorchScript model '" + path + "': output " + std::to_string(output) +
               " has shape " + shapeText(t.sizes()) + "; expected [B,C,H,W] features");
  }
  if (!t.is_floating_point()) {
    throwInput("TorchScript model '" + path + "': output " + std::to_string(output) +
               " is not floating point");
  }
  return t.detach().to(at::kCPU, at::kFloat).contiguous();
}

}  // namespace fl::detail
