#pragma once
/// state_dict files and loading them into modules.
///
/// `torch.save(model.state_dict(), path)` writes PyTorch's zip archive with a pickled
/// OrderedDict that LibTorch 1.13's torch::pickle_load refuses; readStateDict() reads it
/// with a restricted unpickler that builds only tensors and plain containers and never
/// runs code (core/io/pickle.h).
#include <string>
#include <vector>

#include "core/io/tensor_io.h"

namespace torch::nn {
class Module;
}

namespace fl {

/// Reads a state_dict from a torch.save zip archive (.pt, .pth, .bin, .ckpt) or a
/// .safetensors file. Throws fl::Error(Input) naming the file and the problem.
NamedTensors readStateDict(const std::string& path);

/// How a state_dict fits a module, key by key.
struct WeightsReport {
  std::vector<std::string> matched;
  std::vector<std::string> missing;     ///< in the module, not in the file
  std::vector<std::string> unexpected;  ///< in the file, not in the module
  std::vector<std::string> mismatched;  ///< "key: file [a, b] vs module [c, d]"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  /// One line listing every problem by key (empty when ok()).
  std::string summary() const;
};

/// The module's state_dict: parameters and buffers with their dotted Python names.
NamedTensors moduleStateDict(const torch::nn::Module& module);

WeightsReport matchStateDict(const torch::nn::Module& module, const NamedTensors& state);

/// Strict load: throws fl::Error(Weights) with the report's summary unless every key
/// matches by name and shape; then copies values (converting dtype, e.g. float64 -> float32).
WeightsReport loadStateDict(torch::nn::Module& module, const NamedTensors& state,
                            const std::string& where);

}  // namespace fl
